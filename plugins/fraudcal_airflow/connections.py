"""Connection ids (DESIGN.md 3.4) and the hooks that open them.

Connections come from ``AIRFLOW_CONN_*`` environment variables (or any secrets backend);
nothing here holds a host or a password.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import psycopg
    import psycopg2.extensions
    import redis

FRAUD_DB_CONN_ID = "fraud_db"
CALIBRATION_REDIS_CONN_ID = "calibration_redis"
SMTP_CONN_ID = "smtp_default"


def fraud_db_connection() -> psycopg.Connection:
    """Open a psycopg 3 connection to the prediction-log database (``fraud_db``)."""
    from airflow.providers.postgres.hooks.postgres import PostgresHook

    return PostgresHook(postgres_conn_id=FRAUD_DB_CONN_ID).get_conn()


def fraud_db_copy_connection() -> psycopg2.extensions.connection:
    """Open a psycopg2 connection to ``fraud_db``, for bulk binary COPY only.

    Built from the same Airflow connection as :func:`fraud_db_connection` (host, port,
    login, password, database, and libpq options such as ``sslmode`` from the extra).
    """
    import psycopg2
    from airflow.providers.postgres.hooks.postgres import PostgresHook

    connection = PostgresHook(postgres_conn_id=FRAUD_DB_CONN_ID).get_connection(FRAUD_DB_CONN_ID)
    libpq_options = {
        key: value
        for key, value in connection.extra_dejson.items()
        if key in {"sslmode", "sslcert", "sslkey", "sslrootcert", "connect_timeout", "application_name", "options"}
    }
    return psycopg2.connect(
        host=connection.host,
        port=connection.port or 5432,
        user=connection.login,
        password=connection.password,
        dbname=connection.schema,
        **libpq_options,
    )


def calibration_redis() -> redis.Redis:
    """Return a Redis client for the calibration store (``calibration_redis``)."""
    from airflow.providers.redis.hooks.redis import RedisHook

    return RedisHook(redis_conn_id=CALIBRATION_REDIS_CONN_ID).get_conn()
