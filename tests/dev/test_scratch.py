"""The scratch rule (:mod:`fraudcal_dev.scratch`): demos, tests and the local Airflow write only into
databases and Redis databases they created, or that are marked (or declared with
``FRAUDCAL_SCRATCH=1``) as scratch; ``make schema`` alone applies only fraudcal's own schema.

An "unmarked" database here stands for production: created by the test with plain SQL, no mark.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest
import redis
from psycopg import sql

from fraudcal_dev import scratch, services

ROOT = Path(__file__).resolve().parents[2]


def tables(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT table_schema || '.' || table_name FROM information_schema.tables"
            " WHERE table_schema NOT IN ('pg_catalog', 'information_schema')"
        ).fetchall()
    return {row[0] for row in rows}


@pytest.fixture
def unmarked_db(server_url):
    """A database nobody marked as scratch, holding one table of its own; dropped afterwards."""
    name = f"fraudcal_unmarked_{os.getpid()}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = services.database_url(server_url, name)
    with psycopg.connect(url) as conn:
        conn.execute("CREATE TABLE application_data (id int)")
    yield name, url
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def marked_db(server_url):
    name = f"fraudcal_marked_{os.getpid()}"
    url = services.ensure_database(server_url, name, recreate=True)
    yield name, url
    with psycopg.connect(server_url, autocommit=True) as conn:
        services.drop_database(conn, name)


@pytest.fixture
def unmarked_redis(tmp_path):
    """A redis-server nobody marked as scratch (as a production Redis would be)."""
    with services.throwaway_redis(tmp_path) as url:
        yield url


@pytest.fixture
def not_declared(monkeypatch):
    monkeypatch.delenv(scratch.SCRATCH_VARIABLE, raising=False)


def child_environment(**overrides: str) -> dict[str, str]:
    environment = {key: value for key, value in os.environ.items() if key != scratch.SCRATCH_VARIABLE}
    return {**environment, **overrides}


# --- given URLs ------------------------------------------------------------------------------


def test_a_given_database_without_the_mark_is_refused_naming_fraudcal_scratch(unmarked_db, not_declared, monkeypatch):
    _, url = unmarked_db
    monkeypatch.setenv("FRAUD_DB_URL", url)
    with pytest.raises(scratch.NotScratchError, match="FRAUDCAL_SCRATCH=1") as refusal:
        with services.resolved_services():
            pass
    assert "FRAUD_DB_URL=" in str(refusal.value)
    assert tables(url) == {"public.application_data"}


def test_a_given_redis_without_the_mark_is_refused_naming_fraudcal_scratch(unmarked_redis, not_declared, monkeypatch):
    monkeypatch.setenv("REDIS_URL", unmarked_redis)
    with pytest.raises(scratch.NotScratchError, match="REDIS_URL=.*FRAUDCAL_SCRATCH=1"):
        with services.resolved_services():
            pass
    assert redis.Redis.from_url(unmarked_redis).dbsize() == 0


def test_fraudcal_scratch_1_declares_the_given_urls_scratch(unmarked_db, unmarked_redis, monkeypatch):
    _, url = unmarked_db
    monkeypatch.setenv("FRAUD_DB_URL", url)
    monkeypatch.setenv("REDIS_URL", unmarked_redis)
    monkeypatch.setenv(scratch.SCRATCH_VARIABLE, "1")
    with services.resolved_services() as found:
        assert (found.fraud_db_url, found.postgres_kind) == (url, "given")
        assert (found.redis_url, found.redis_kind) == (unmarked_redis, "given")


def test_a_marked_database_and_redis_are_accepted_without_the_variable(marked_db, tmp_path, not_declared, monkeypatch):
    _, url = marked_db
    with services.throwaway_redis(tmp_path) as redis_url:
        redis.Redis.from_url(redis_url).set(scratch.REDIS_MARK_KEY, scratch.MARK)
        monkeypatch.setenv("FRAUD_DB_URL", url)
        monkeypatch.setenv("REDIS_URL", redis_url)
        with services.resolved_services() as found:
            assert (found.fraud_db_url, found.redis_url) == (url, redis_url)


def test_the_demo_refuses_an_unmarked_database_before_writing_anything(unmarked_db):
    _, url = unmarked_db
    # through `make demo`'s command chain, and run by hand
    for command in (
        [sys.executable, "-m", "fraudcal_dev.services", "run", "--", sys.executable, "scripts/demo.py"],
        [sys.executable, "scripts/demo.py"],
    ):
        result = subprocess.run(
            command, cwd=ROOT, env=child_environment(FRAUD_DB_URL=url), capture_output=True, text=True, timeout=120
        )
        assert result.returncode == 2, result.stdout + result.stderr
        assert "is not marked as scratch" in result.stderr and "FRAUDCAL_SCRATCH=1" in result.stderr
        assert "[1/7]" not in result.stdout
    assert tables(url) == {"public.application_data"}


def test_the_demo_data_function_refuses_an_unmarked_database(unmarked_db, not_declared):
    from fraudcal_dev.demo_data import ensure_demo_data

    _, url = unmarked_db
    with pytest.raises(scratch.NotScratchError, match="FRAUDCAL_SCRATCH=1"):
        ensure_demo_data(url, 1000, datetime.now(UTC))
    assert tables(url) == {"public.application_data"}


def test_the_command_chain_of_make_targets_refuses_an_unmarked_redis_before_running_anything(unmarked_redis):
    """``python -m fraudcal_dev.services run --`` wraps make demo, airflow, airflow-celery and bench."""
    command = [sys.executable, "-m", "fraudcal_dev.services", "run", "--", sys.executable, "-c", "print('ran')"]
    result = subprocess.run(
        command, cwd=ROOT, env=child_environment(REDIS_URL=unmarked_redis), capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert "ran" not in result.stdout
    assert "REDIS_URL=" in result.stderr and "FRAUDCAL_SCRATCH=1" in result.stderr
    assert redis.Redis.from_url(unmarked_redis).dbsize() == 0


# --- databases the commands create -----------------------------------------------------------


def test_a_created_database_is_marked_and_an_unmarked_one_of_that_name_is_refused(server_url, unmarked_db):
    name, url = unmarked_db
    for recreate in (False, True):
        with pytest.raises(scratch.NotScratchError, match=f"database '{name}' on .* is not marked"):
            services.ensure_database(server_url, name, recreate=recreate)
    with psycopg.connect(server_url, autocommit=True) as conn:
        with pytest.raises(scratch.NotScratchError):
            services.drop_database(conn, name)
    assert tables(url) == {"public.application_data"}  # neither written nor dropped

    created = f"fraudcal_created_{os.getpid()}"
    created_url = services.ensure_database(server_url, created, recreate=True)
    try:
        assert scratch.database_is_scratch(created_url)
        assert services.ensure_database(server_url, created) == created_url  # reused once marked
    finally:
        with psycopg.connect(server_url, autocommit=True) as conn:
            services.drop_database(conn, created)


# --- make schema -----------------------------------------------------------------------------


def make_schema(url: str, *arguments: str) -> subprocess.CompletedProcess:
    """``make schema`` itself, with the virtualenv taken as up to date (``-o``: not remade)."""
    command = ["make", "--no-print-directory", "-o", ".venv/.installed", "-o", ".venv/.project-on-path"]
    return subprocess.run(
        [*command, "schema", *arguments],
        cwd=ROOT,
        env=child_environment(FRAUD_DB_URL=url),
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.slow
def test_make_schema_applies_only_fraudcals_own_schema_and_dev_tables_only_on_scratch(unmarked_db, marked_db):
    _, production = unmarked_db
    result = make_schema(production)
    assert result.returncode == 0, result.stdout + result.stderr
    created = tables(production)
    assert "fraudcal.calibration_sets" in created
    assert not {"public.noc_fraud_prediction_log", "public.ml_prediction_log"} & created

    refused = make_schema(production, "DEV_TABLES=1")
    assert refused.returncode != 0 and "FRAUDCAL_SCRATCH=1" in refused.stderr, refused.stdout + refused.stderr
    assert tables(production) == created

    _, scratch_url = marked_db
    result = make_schema(scratch_url, "DEV_TABLES=1")
    assert result.returncode == 0, result.stdout + result.stderr
    assert {"public.noc_fraud_prediction_log", "public.ml_prediction_log"} <= tables(scratch_url)


# --- the test session itself -----------------------------------------------------------------


def test_this_session_has_a_redis_of_its_own():
    url = os.environ["REDIS_URL"]
    parts = urlsplit(url)
    declared = os.environ.get(scratch.SCRATCH_VARIABLE) == "1"
    assert declared or scratch.redis_is_scratch(url), f"{url} is not marked as scratch"
    if not declared:
        assert (parts.hostname, parts.port or 6379) != ("127.0.0.1", 6379), "tests must not use the local Redis"


def test_this_sessions_database_is_marked_scratch():
    assert scratch.database_is_scratch(os.environ["FRAUD_DB_URL"])
