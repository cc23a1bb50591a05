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


def postgres_conn_from_url(url: str) -> dict[str, object]:
    """Return the Airflow connection (JSON form) for a ``postgresql://`` URL.

    A Unix-socket URL (``postgresql://user@/db?host=/run/dir``, as the throwaway server
    gives) becomes a connection whose host is the socket folder, which libpq accepts.

    Raises
    ------
    ValueError
        If the URL is not a PostgreSQL URL or names no database.
    """
    from urllib.parse import parse_qs, unquote, urlsplit

    parts = urlsplit(url)
    if parts.scheme not in ("postgresql", "postgres"):
        raise ValueError(f"FRAUD_DB_URL {url!r} must start with postgresql:// (got scheme {parts.scheme!r})")
    database = unquote(parts.path.lstrip("/"))
    if not database:
        raise ValueError(f"FRAUD_DB_URL {url!r} must name a database (postgresql://user@host:port/DATABASE)")
    query = parse_qs(parts.query)
    host = parts.hostname or (query.get("host") or [None])[0]
    if not host:
        raise ValueError(f"FRAUD_DB_URL {url!r} names no host (nor ?host=/socket/dir)")
    connection: dict[str, object] = {"conn_type": "postgres", "host": host, "schema": database}
    if parts.port:
        connection["port"] = parts.port
    if parts.username:
        connection["login"] = unquote(parts.username)
    if parts.password:
        connection["password"] = unquote(parts.password)
    return connection


def redis_conn_from_url(url: str) -> dict[str, object]:
    """Return the Airflow connection (JSON form) for a ``redis://host:port/db`` URL.

    The Redis provider reads the database number from the connection's extra, not from the
    URL path, so the path is moved there.
    """
    from urllib.parse import unquote, urlsplit

    parts = urlsplit(url)
    if parts.scheme != "redis":
        raise ValueError(f"REDIS_URL {url!r} must start with redis:// (got scheme {parts.scheme!r})")
    path = parts.path.lstrip("/") or "0"
    if not path.isdigit():
        raise ValueError(f"REDIS_URL {url!r}: the path must be a database number, got {path!r}")
    connection: dict[str, object] = {
        "conn_type": "redis",
        "host": parts.hostname or "127.0.0.1",
        "port": parts.port or 6379,
        "extra": {"db": int(path)},
    }
    if parts.password:
        connection["password"] = unquote(parts.password)
    return connection
