"""Connection ids (DESIGN.md 3.4) and the clients that open them, each with timeouts.

Connections come from ``AIRFLOW_CONN_*`` environment variables (or any secrets backend);
nothing here holds a host or a password. Every client gives up on a server that does not answer
within a few seconds, so a hung PostgreSQL or Redis fails the task (which Airflow retries with
backoff) instead of blocking a worker slot for minutes: PostgreSQL connections get libpq's
``connect_timeout`` (:data:`POSTGRES_CONNECT_TIMEOUT_SECONDS`) unless the connection's extra sets
one; the Redis client gets connect and socket timeouts (:data:`REDIS_CONNECT_TIMEOUT_SECONDS`,
:data:`REDIS_SOCKET_TIMEOUT_SECONDS`), overridden by the extra's ``socket_connect_timeout`` and
``socket_timeout``, which the Redis provider itself does not read.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import psycopg
    import psycopg2.extensions
    import redis

FRAUD_DB_CONN_ID = "fraud_db"
CALIBRATION_REDIS_CONN_ID = "calibration_redis"
SMTP_CONN_ID = "smtp_default"

#: libpq ``connect_timeout`` of the ``fraud_db`` connections, unless its extra sets one (seconds).
POSTGRES_CONNECT_TIMEOUT_SECONDS = 10
#: How long the Redis client waits for a TCP connection (seconds); extra ``socket_connect_timeout``.
REDIS_CONNECT_TIMEOUT_SECONDS = 5.0
#: How long the Redis client waits for any reply (seconds); extra ``socket_timeout``.
REDIS_SOCKET_TIMEOUT_SECONDS = 5.0
#: Immediate retries of one Redis command after a timeout or a dropped connection. Few on
#: purpose: a command blocks for up to (1 + retries) x the socket timeout before the task fails,
#: and the task's own retries (with backoff) are the ones that wait for a restarting server.
REDIS_COMMAND_RETRIES = 1


def _fraud_db_airflow_connection() -> Any:
    """The ``fraud_db`` Airflow connection, with ``connect_timeout`` in its extra unless it has one."""
    import json

    from airflow.providers.postgres.hooks.postgres import PostgresHook

    connection = PostgresHook.get_connection(FRAUD_DB_CONN_ID)
    extra = connection.extra_dejson
    if extra.get("connect_timeout") in (None, ""):
        connection.extra = json.dumps({**extra, "connect_timeout": POSTGRES_CONNECT_TIMEOUT_SECONDS})
    return connection


def fraud_db_connection() -> psycopg.Connection:
    """Open a psycopg 3 connection to the prediction-log database (``fraud_db``), with a connect timeout."""
    from airflow.providers.postgres.hooks.postgres import PostgresHook

    connection = _fraud_db_airflow_connection()
    return PostgresHook(postgres_conn_id=FRAUD_DB_CONN_ID, connection=connection).get_conn()


def fraud_db_copy_connection() -> psycopg2.extensions.connection:
    """Open a psycopg2 connection to ``fraud_db``, for bulk binary COPY only.

    Built from the same Airflow connection as :func:`fraud_db_connection` (host, port,
    login, password, database, and libpq options such as ``sslmode`` from the extra), with the
    same connect timeout.
    """
    import psycopg2

    connection = _fraud_db_airflow_connection()
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
    """Return a Redis client for the calibration store (``calibration_redis``), with timeouts.

    The database is the connection URI's path (``redis://host:6379/15``, which Airflow keeps as
    the connection's schema) or the extra's ``db``; the Redis provider reads only the extra, so
    without this a path would silently mean database 0.

    Raises
    ------
    InputError
        The path is not a database number, path and extra ``db`` name different databases, a
        timeout in the extra is not a positive number, or the extra asks for cluster mode (no
        retry can fix a connection).
    """
    from airflow.providers.redis.hooks.redis import RedisHook
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    from fraudcal_airflow.errors import InputError

    hook = RedisHook(redis_conn_id=CALIBRATION_REDIS_CONN_ID)
    connection = hook.get_connection(CALIBRATION_REDIS_CONN_ID)
    extra = connection.extra_dejson
    if str(extra.get("cluster", "")).lower() in ("true", "1"):
        # The publish script writes the live key and :previous in one step, which Redis Cluster
        # refuses for keys in different hash slots (CROSSSLOT).
        raise InputError(
            f"connection {CALIBRATION_REDIS_CONN_ID!r}: cluster mode (extra cluster={extra['cluster']!r}) is not "
            "supported; the atomic publish writes two keys in one script. Point it at a standalone Redis or a primary."
        )
    database = redis_database(connection.schema, extra.get("db"))
    settings = {
        "db": database,
        "socket_connect_timeout": _seconds(extra, "socket_connect_timeout", REDIS_CONNECT_TIMEOUT_SECONDS),
        "socket_timeout": _seconds(extra, "socket_timeout", REDIS_SOCKET_TIMEOUT_SECONDS),
        "retry": Retry(NoBackoff(), REDIS_COMMAND_RETRIES),
    }
    client = hook.get_conn()
    # The provider takes no timeouts; its client has opened no connection yet, and every
    # connection its pool opens is made from these settings.
    client.connection_pool.connection_kwargs.update(settings)
    return client


def redis_database(path: str | None, extra_db: Any) -> int:
    """The Redis database number from a connection's URI path and its extra ``db`` (0 if neither).

    Raises
    ------
    InputError
        Naming the value(s) and where the number goes.
    """
    from fraudcal_airflow.errors import InputError

    where = (
        f"connection {CALIBRATION_REDIS_CONN_ID!r}: the database number goes in the URI path "
        '(redis://host:6379/15) or in the extra as {"db": 15}'
    )
    from_path = from_extra = None
    if path not in (None, ""):
        if not str(path).isdigit():
            raise InputError(f"{where}; the path {path!r} is not a database number")
        from_path = int(path)
    if extra_db not in (None, ""):
        if not str(extra_db).strip().isdigit():
            raise InputError(f"{where}; the extra's db {extra_db!r} is not a database number")
        from_extra = int(str(extra_db).strip())
    if from_path is not None and from_extra is not None and from_path != from_extra:
        raise InputError(
            f"connection {CALIBRATION_REDIS_CONN_ID!r} names two databases: {from_path} in the URI path "
            f"and {from_extra} in the extra's db; give one of them"
        )
    return from_path if from_path is not None else (from_extra or 0)


def _seconds(extra: dict[str, Any], key: str, default: float) -> float:
    """A positive number of seconds from the connection's extra, else ``default``."""
    import math

    from fraudcal_airflow.errors import InputError

    value = extra.get(key)
    if value in (None, ""):
        return default
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = float("nan")
    if not (seconds > 0 and math.isfinite(seconds)):
        raise InputError(
            f"connection {CALIBRATION_REDIS_CONN_ID!r}: extra {key}={value!r} must be a positive number of seconds"
        )
    return seconds
