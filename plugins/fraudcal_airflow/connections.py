"""Connection ids (DESIGN.md 3.4) and the hooks that open them.

Connections come from ``AIRFLOW_CONN_*`` environment variables (or any secrets backend);
nothing here holds a host or a password.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import psycopg
    import redis

FRAUD_DB_CONN_ID = "fraud_db"
CALIBRATION_REDIS_CONN_ID = "calibration_redis"
SMTP_CONN_ID = "smtp_default"


def fraud_db_connection() -> psycopg.Connection:
    """Open a psycopg 3 connection to the prediction-log database (``fraud_db``)."""
    from airflow.providers.postgres.hooks.postgres import PostgresHook

    return PostgresHook(postgres_conn_id=FRAUD_DB_CONN_ID).get_conn()


def calibration_redis() -> redis.Redis:
    """Return a Redis client for the calibration store (``calibration_redis``)."""
    from airflow.providers.redis.hooks.redis import RedisHook

    return RedisHook(redis_conn_id=CALIBRATION_REDIS_CONN_ID).get_conn()
