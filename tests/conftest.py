"""Test session setup: real services, a throwaway Airflow home, a fresh test database.

Environment is set at import time, before any test module imports Airflow (Airflow reads
its configuration once, at import). Services come from :mod:`fraudcal_dev.services`, under its
scratch rule (:mod:`fraudcal_dev.scratch`): the tests get a database of their own
(``fraudcal_test_<pid>``, created and marked as scratch, dropped at the end) on the server of
``FRAUD_DB_URL`` if it is scratch, else on the local PostgreSQL, else on a throwaway one; and a
``redis-server`` of their own, started for the session and stopped after it, so that concurrent
sessions never share or wipe a Redis database. A ``FRAUD_DB_URL`` or ``REDIS_URL`` that is not
scratch (marked, or ``FRAUDCAL_SCRATCH=1``) stops the session before any test runs.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path

import pytest

from fraudcal_dev import services
from fraudcal_dev.scratch import NotScratchError

ROOT = Path(__file__).resolve().parents[1]

pytest_plugins = ["tests.integration.smtp_sink"]  # the smtp_sink fixture (a real aiosmtpd server)

_session = contextlib.ExitStack()
TEST_DATABASE = f"fraudcal_test_{os.getpid()}"
try:
    _services = _session.enter_context(services.resolved_services(TEST_DATABASE, recreate=True))
    #: A database of the test server to create and drop databases from.
    SERVER_URL = _services.server_url
    TEST_DB_URL = (
        services.ensure_database(SERVER_URL, TEST_DATABASE, recreate=True)
        if _services.postgres_kind == "given"
        else _services.fraud_db_url
    )
except NotScratchError as refusal:
    _session.close()
    raise pytest.UsageError(f"the tests refuse to run: {refusal}") from None
REDIS_URL = _services.redis_url
_tmp = Path(tempfile.mkdtemp(prefix="fraudcal-tests-"))

os.environ.update(
    {
        "AIRFLOW_HOME": str(_tmp / "airflow-home"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
        "AIRFLOW__CORE__UNIT_TEST_MODE": "True",
        "FRAUDCAL_ARTIFACTS_DIR": str(_tmp / "artifacts"),
        "FRAUDCAL_IMPORT_DIR": str(_tmp / "import"),
        "FRAUD_DB_URL": TEST_DB_URL,
        "REDIS_URL": REDIS_URL,
    }
)
os.environ.update(services.Services(TEST_DB_URL, REDIS_URL, "test", "test").environment())
(_tmp / "import").mkdir()


def pytest_unconfigure(config: pytest.Config) -> None:
    with contextlib.suppress(Exception):
        import psycopg

        with psycopg.connect(SERVER_URL, autocommit=True) as conn:
            services.drop_database(conn, TEST_DATABASE)
    _session.close()


@pytest.fixture(scope="session")
def db_url() -> str:
    """URL of this session's test database (schema applied)."""
    import psycopg

    from fraudcal_airflow.db.migrations import DEV_MIGRATIONS, OWNED_MIGRATIONS, apply_migrations

    with psycopg.connect(TEST_DB_URL) as conn:
        apply_migrations(conn, (OWNED_MIGRATIONS, DEV_MIGRATIONS))
    return TEST_DB_URL


@pytest.fixture
def pg(db_url: str):
    """An autocommit connection to the test database, with no calibration sets or triage rows stored.

    The prediction logs are left as they are: modules load them once (module fixtures).
    """
    import psycopg

    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("TRUNCATE fraudcal.calibration_sets, fraudcal.triage_certificates RESTART IDENTITY")
        yield conn


@pytest.fixture
def redis_client():
    """A client of the test Redis with no ``fraudcal:*`` keys."""
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter("fraudcal:*"))
    if keys:
        client.delete(*keys)
    yield client
    client.close()


@pytest.fixture(scope="session")
def server_url() -> str:
    """A database of the test PostgreSQL server, to create and drop databases from."""
    return SERVER_URL


@pytest.fixture(scope="session")
def import_dir() -> Path:
    return Path(os.environ["FRAUDCAL_IMPORT_DIR"])


@pytest.fixture(scope="session")
def airflow_db():
    """Airflow's metadata DB (SQLite in the temp AIRFLOW_HOME), created once."""
    from airflow.utils import db

    db.resetdb()
    yield


def connection_json(name: str) -> dict:
    return json.loads(os.environ[f"AIRFLOW_CONN_{name.upper()}"])
