"""The clients of ``fraudcal_airflow.connections`` against real servers: the Redis database a
connection names is the one written, and a server that does not answer fails the call within
seconds (an error Airflow retries), never blocks it for minutes.

Each test points the connection (``AIRFLOW_CONN_*``) at a server of its own: a throwaway
``redis-server``, stopped with SIGSTOP where the test needs a hung one, or a TCP listener that
never answers, which is what a hung PostgreSQL looks like to a client.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import threading
import time

import pytest
import redis

from fraudcal_airflow.connections import (
    POSTGRES_CONNECT_TIMEOUT_SECONDS,
    calibration_redis,
    fraud_db_connection,
    fraud_db_copy_connection,
)
from fraudcal_airflow.errors import InputError
from fraudcal_airflow.publish import PublishOutcome, live_key, publish_calibration_set
from fraudcal_dev.services import throwaway_redis_server

PAYLOAD = {
    "schema_version": 1,
    "model_type": "fraud_detector",
    "model_version": "v1",
    "method": "residual",
    "as_of": "2025-03-02T00:00:00Z",
    "levels": {"90": {"quantile": 0.05, "k": 10}},
    "calibration_set_id": 1,
    "narrow_threshold": 0.2,
}
LIVE = live_key("fraud_detector", "v1")


@pytest.fixture
def redis_server(tmp_path):
    """A redis-server of this test's own: ``(port, process)``; resumed and stopped at the end."""
    with throwaway_redis_server(tmp_path) as (url, process):
        yield int(url.rsplit(":", 1)[1].split("/")[0]), process


def database(port: int, number: int) -> redis.Redis:
    return redis.Redis(host="127.0.0.1", port=port, db=number, socket_timeout=5)


# --- the Redis database ----------------------------------------------------------------------


def test_a_database_in_the_uri_path_is_the_one_published_to(redis_server, monkeypatch):
    port, _ = redis_server
    monkeypatch.setenv("AIRFLOW_CONN_CALIBRATION_REDIS", f"redis://127.0.0.1:{port}/15")
    client = calibration_redis()
    try:
        assert publish_calibration_set(client, dict(PAYLOAD), ttl_hours=1) is PublishOutcome.CREATED
    finally:
        client.close()
    assert json.loads(database(port, 15).get(LIVE))["as_of"] == PAYLOAD["as_of"]
    assert database(port, 0).dbsize() == 0, "database 0 must get nothing"


@pytest.mark.parametrize(
    ("connection", "expected"),
    [
        ("redis://127.0.0.1:{port}/7?db=7", 7),  # path and extra agree
        ('{{"conn_type": "redis", "host": "127.0.0.1", "port": {port}, "extra": {{"db": 4}}}}', 4),
        ('{{"conn_type": "redis", "host": "127.0.0.1", "port": {port}, "schema": "9"}}', 9),
        ("redis://127.0.0.1:{port}", 0),
    ],
)
def test_the_database_comes_from_the_path_or_the_extra(redis_server, monkeypatch, connection, expected):
    port, _ = redis_server
    monkeypatch.setenv("AIRFLOW_CONN_CALIBRATION_REDIS", connection.format(port=port))
    client = calibration_redis()
    try:
        client.set("fraudcal:probe", "1")
    finally:
        client.close()
    assert database(port, expected).get("fraudcal:probe") == b"1"


def test_path_and_extra_naming_different_databases_are_refused_naming_both(redis_server, monkeypatch):
    port, _ = redis_server
    monkeypatch.setenv("AIRFLOW_CONN_CALIBRATION_REDIS", f"redis://127.0.0.1:{port}/15?db=3")
    with pytest.raises(InputError, match=r"15 in the URI path and 3 in the extra's db"):
        calibration_redis()


@pytest.mark.parametrize(
    ("connection", "message"),
    [
        ("redis://127.0.0.1:6379/cache", r"the path 'cache' is not a database number"),
        ("redis://127.0.0.1:6379?db=two", r"the extra's db 'two' is not a database number"),
        ("redis://127.0.0.1:6379/0?socket_timeout=-1", r"socket_timeout='-1' must be a positive number"),
        ("redis://127.0.0.1:6379/0?cluster=true", r"cluster mode .* is not supported"),
    ],
)
def test_a_bad_connection_fails_at_once_saying_where_the_value_goes(monkeypatch, connection, message):
    monkeypatch.setenv("AIRFLOW_CONN_CALIBRATION_REDIS", connection)
    with pytest.raises(InputError, match=message) as error:
        calibration_redis()
    if "database number" in message:
        assert "redis://host:6379/15" in str(error.value) and '{"db": 15}' in str(error.value)


# --- timeouts --------------------------------------------------------------------------------


def publish_in_thread(result: dict) -> threading.Thread:
    """Publish through ``calibration_redis()`` on a thread; ``result`` gets the outcome or error."""

    def run():
        started = time.monotonic()
        try:
            client = calibration_redis()
            try:
                result["outcome"] = publish_calibration_set(client, dict(PAYLOAD), ttl_hours=1)
            finally:
                client.close()
        except Exception as error:  # noqa: BLE001 - the test inspects it
            result["error"] = error
        result["seconds"] = time.monotonic() - started

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


@pytest.mark.slow
def test_a_hung_redis_fails_the_publish_within_seconds_and_the_retry_publishes(redis_server, monkeypatch):
    port, process = redis_server
    monkeypatch.setenv("AIRFLOW_CONN_CALIBRATION_REDIS", f"redis://127.0.0.1:{port}/0")
    result: dict = {}
    os.kill(process.pid, signal.SIGSTOP)
    try:
        thread = publish_in_thread(result)
        thread.join(timeout=30)
        assert not thread.is_alive(), "the publish still blocks after 30 s on a hung Redis"
    finally:
        os.kill(process.pid, signal.SIGCONT)
        thread.join(timeout=30)
    error = result.get("error")
    assert isinstance(error, redis.exceptions.TimeoutError), result
    assert not isinstance(error, InputError)  # so Airflow retries the task
    assert result["seconds"] < 15, result
    # The task's retry, once Redis answers again. The timed-out EVAL may have run when the server
    # resumed (it was in the socket); the script is idempotent, so the retry then finds it unchanged.
    retry: dict = {}
    publish_in_thread(retry).join(timeout=30)
    assert retry.get("outcome") in (PublishOutcome.CREATED, PublishOutcome.UNCHANGED), retry
    assert json.loads(database(port, 0).get(LIVE)) == PAYLOAD


@pytest.mark.slow
def test_the_socket_timeout_of_the_extra_replaces_the_default(redis_server, monkeypatch):
    port, process = redis_server
    monkeypatch.setenv("AIRFLOW_CONN_CALIBRATION_REDIS", f"redis://127.0.0.1:{port}/0?socket_timeout=0.5")
    result: dict = {}
    os.kill(process.pid, signal.SIGSTOP)
    try:
        publish_in_thread(result).join(timeout=30)
    finally:
        os.kill(process.pid, signal.SIGCONT)
    assert isinstance(result.get("error"), redis.exceptions.TimeoutError), result
    assert result["seconds"] < 3, result  # (1 + 1 retry) x 0.5 s, not 2 x the 5 s default


@pytest.fixture
def silent_postgres():
    """A TCP port that accepts connections (the kernel's backlog) and never answers: a hung server."""
    listener = socket.create_server(("127.0.0.1", 0), backlog=16)
    try:
        yield listener.getsockname()[1]
    finally:
        listener.close()  # resets whatever still waits on it


def connect_in_thread(connect, result: dict, name: str) -> threading.Thread:
    def run():
        started = time.monotonic()
        try:
            connect().close()
            result[name] = ("connected", time.monotonic() - started)
        except Exception as error:  # noqa: BLE001 - the test inspects it
            result[name] = (error, time.monotonic() - started)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


@pytest.mark.slow
@pytest.mark.parametrize(("extra", "bound"), [({}, POSTGRES_CONNECT_TIMEOUT_SECONDS + 5), ({"connect_timeout": 2}, 6)])
def test_a_hung_postgres_fails_both_connections_within_the_connect_timeout(silent_postgres, monkeypatch, extra, bound):
    import psycopg
    import psycopg2

    connection = {"conn_type": "postgres", "host": "127.0.0.1", "port": silent_postgres, "schema": "fraud"}
    connection |= {"login": "fraudcal", "password": "secret", "extra": extra}
    monkeypatch.setenv("AIRFLOW_CONN_FRAUD_DB", json.dumps(connection))
    result: dict = {}
    threads = [
        connect_in_thread(fraud_db_connection, result, "psycopg"),
        connect_in_thread(fraud_db_copy_connection, result, "psycopg2"),
    ]
    for thread in threads:
        thread.join(timeout=bound + 10)
    assert isinstance(result["psycopg"][0], psycopg.OperationalError), result
    assert isinstance(result["psycopg2"][0], psycopg2.OperationalError), result
    assert max(seconds for _, seconds in result.values()) < bound, result


def test_a_connect_timeout_in_the_extra_is_kept(db_url, monkeypatch):
    from fraudcal_dev.connection_urls import postgres_conn_from_url

    connection = postgres_conn_from_url(db_url) | {"extra": {"connect_timeout": 7}}
    monkeypatch.setenv("AIRFLOW_CONN_FRAUD_DB", json.dumps(connection))
    with fraud_db_connection() as conn:
        assert conn.info.get_parameters().get("connect_timeout") == "7"
    copy_conn = fraud_db_copy_connection()
    try:
        assert copy_conn.get_dsn_parameters()["connect_timeout"] == "7"
    finally:
        copy_conn.close()
