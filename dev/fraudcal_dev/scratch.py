"""The scratch rule: development tooling writes only where it was told it may.

``make demo``, ``make airflow``, ``make bench``, the tests and ``make schema DEV_TABLES=1`` fill a
prediction log with synthetic rows, write its interval columns, create the dev tables, publish
calibration sets and delete ``fraudcal:*`` keys. They do that only on

* a PostgreSQL database they created themselves: :func:`ensure_database` creates it and marks
  it (``COMMENT ON DATABASE ... IS 'fraudcal scratch ...'``); an existing database of that name
  without the mark is refused, never written, never dropped;
* a Redis they started themselves (a throwaway ``redis-server``), which gets the mark key
  :data:`REDIS_MARK_KEY`;
* a database given by ``FRAUD_DB_URL`` / ``REDIS_URL`` only when it carries that mark or when
  :data:`SCRATCH_VARIABLE` (``FRAUDCAL_SCRATCH=1``) says the given ones are scratch.

Anything else is refused with :class:`NotScratchError`, whose message names the variable to
set. Only fraudcal's own schema (``make schema`` without ``DEV_TABLES``, and the DAGs) may be
applied to a database that is not scratch.

*(repo)* The few statements here are composed inline: development only, never run by a DAG.
"""

from __future__ import annotations

import contextlib
import os
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from fraudcal_airflow.db.sql import load_sql

if TYPE_CHECKING:
    import psycopg

#: ``FRAUDCAL_SCRATCH=1``: the databases named by ``FRAUD_DB_URL`` and ``REDIS_URL`` are scratch.
SCRATCH_VARIABLE = "FRAUDCAL_SCRATCH"
#: Every mark starts with this: a PostgreSQL database comment, the value of the Redis mark key.
MARK = "fraudcal scratch"
#: The key that marks a Redis database as scratch. Outside ``fraudcal:*``, which tests delete.
REDIS_MARK_KEY = "fraudcal-scratch"
#: How long a check waits for a server before it gives up (seconds).
CHECK_TIMEOUT_SECONDS = 5

class NotScratchError(RuntimeError):
    """A command that writes test or demo data was pointed at a database not marked as scratch."""


def scratch_declared() -> bool:
    """Whether ``FRAUDCAL_SCRATCH=1`` declares the given ``FRAUD_DB_URL`` / ``REDIS_URL`` scratch."""
    return os.environ.get(SCRATCH_VARIABLE) == "1"


def redacted(url: str) -> str:
    """``url`` with its password replaced by ``***``, for messages."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if not parts.password:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{netloc}"))


def mark_text(what: str) -> str:
    """The mark fraudcal writes on a database it created."""
    return f"{MARK}: created by fraudcal_dev for {what} on {datetime.now(UTC):%Y-%m-%dT%H:%M:%SZ}; may be filled and dropped"


# --- PostgreSQL ------------------------------------------------------------------------------


def database_mark(conn: psycopg.Connection, database: str) -> tuple[bool, str | None]:
    """``(exists, comment)`` of ``database`` on the server ``conn`` is connected to."""
    row = conn.execute(load_sql("dev/database_mark"), {"database": database}).fetchone()
    return (row is not None, row[0] if row else None)


def is_marked(comment: str | None) -> bool:
    return bool(comment) and comment.startswith(MARK)


def mark_database(conn: psycopg.Connection, database: str, what: str = "demos and tests") -> None:
    """Write the scratch mark on ``database`` (``conn`` in autocommit; needs ownership)."""
    from psycopg import sql

    conn.execute(
        sql.SQL(load_sql("dev/mark_database")).format(database=sql.Identifier(database), mark=sql.Literal(mark_text(what)))
    )


@contextlib.contextmanager
def database_lock(conn: psycopg.Connection):
    """Hold the server-wide lock under which databases are checked, created and marked."""
    conn.execute(load_sql("dev/lock_scratch_databases"))
    try:
        yield
    finally:
        conn.execute(load_sql("dev/unlock_scratch_databases"))


def server_name(conn: psycopg.Connection) -> str:
    """``host:port`` (or socket folder:port) of the server ``conn`` is connected to, for messages."""
    return f"{conn.info.host}:{conn.info.port}"


def unmarked_database_message(server: str, database: str, comment: str | None) -> str:
    return (
        f"database {database!r} on {server} exists but is not marked as fraudcal scratch "
        f"(its comment: {comment!r}), so nothing is written into it or dropped. If it is yours to "
        f"fill and drop, mark it: COMMENT ON DATABASE {database} IS '{MARK}'; or drop it and it is created "
        f"anew; or point FRAUD_DB_URL at it and set {SCRATCH_VARIABLE}=1."
    )


def database_is_scratch(url: str) -> bool:
    """Whether the database of ``url`` carries the scratch mark (one short read, no writes)."""
    from urllib.parse import unquote, urlsplit

    import psycopg

    database = unquote(urlsplit(url).path.lstrip("/"))
    with psycopg.connect(url, autocommit=True, connect_timeout=CHECK_TIMEOUT_SECONDS) as conn:
        return is_marked(database_mark(conn, database)[1])


def require_scratch_database(url: str, variable: str = "FRAUD_DB_URL") -> None:
    """Refuse unless ``url``'s database is marked scratch or ``FRAUDCAL_SCRATCH=1`` is set.

    Raises
    ------
    NotScratchError
        Naming the URL (password hidden), what would be written and the variable to set.
    """
    if scratch_declared() or database_is_scratch(url):
        return
    raise NotScratchError(
        f"{variable}={redacted(url)} is not marked as scratch, and the demo, the tests, `make airflow`, "
        "`make bench` and `make schema DEV_TABLES=1` write into the database they use (synthetic rows in "
        "the prediction log, its interval columns, the dev tables). If this database is yours to fill and "
        f"empty, set {SCRATCH_VARIABLE}=1. Otherwise unset {variable}: they then use a database they create "
        "and mark themselves (on 127.0.0.1:5432 when it answers, else on a throwaway server). To apply only "
        "fraudcal's own schema to it, run `make schema` (without DEV_TABLES)."
    )


# --- Redis -----------------------------------------------------------------------------------


def redis_is_scratch(url: str) -> bool:
    """Whether the Redis database of ``url`` holds the mark key (one short read, no writes)."""
    import redis

    client = redis.Redis.from_url(
        url, socket_timeout=CHECK_TIMEOUT_SECONDS, socket_connect_timeout=CHECK_TIMEOUT_SECONDS
    )
    try:
        value = client.get(REDIS_MARK_KEY)
    finally:
        client.close()
    return value is not None and value.decode(errors="replace").startswith(MARK)


def mark_redis(url: str, what: str = "demos and tests") -> None:
    """Set the mark key in the Redis database of ``url`` (one a command started itself)."""
    import redis

    client = redis.Redis.from_url(url, socket_timeout=CHECK_TIMEOUT_SECONDS)
    try:
        client.set(REDIS_MARK_KEY, mark_text(what))
    finally:
        client.close()


def require_scratch_redis(url: str, variable: str = "REDIS_URL") -> None:
    """Refuse unless ``url``'s Redis database holds the mark key or ``FRAUDCAL_SCRATCH=1`` is set.

    Raises
    ------
    NotScratchError
        Naming the URL (password hidden), what would be written and the variable to set.
    """
    if scratch_declared() or redis_is_scratch(url):
        return
    raise NotScratchError(
        f"{variable}={redacted(url)} is not marked as scratch, and the demo, the tests and `make airflow` "
        "publish calibration sets there (the tests also delete its fraudcal:* keys). If this Redis "
        f"database is yours to fill and empty, set {SCRATCH_VARIABLE}=1 (or mark it: SET {REDIS_MARK_KEY} "
        f"'{MARK}'). Otherwise unset {variable}: they then start a throwaway redis-server of their own."
    )


def require_scratch_services(fraud_db_url: str, redis_url: str | None = None) -> None:
    """Both checks, PostgreSQL first; for scripts that may be run without ``fraudcal_dev.services``."""
    require_scratch_database(fraud_db_url)
    if redis_url is not None:
        require_scratch_redis(redis_url)


def scratch_refusal(make_target: str) -> str | None:
    """Why a dev command (``make <make_target>``) must not run on the environment's services, or None.

    The services come from ``FRAUD_DB_URL`` and ``REDIS_URL`` (``make`` sets them); both must be
    scratch (:func:`require_scratch_services`).
    """
    if not (os.environ.get("FRAUD_DB_URL") and os.environ.get("REDIS_URL")):
        return f"FRAUD_DB_URL and REDIS_URL are not set: run `make {make_target}`"
    try:
        require_scratch_services(os.environ["FRAUD_DB_URL"], os.environ["REDIS_URL"])
    except NotScratchError as refusal:
        return f"refused: {refusal}"
    return None
