"""End to end on the CeleryExecutor: the same Airflow, with a Redis broker of its own, Celery's
result backend in the PostgreSQL metadata database, and two Celery workers, each in its own UTS
namespace with its own hostname, as on two machines (``fraudcal_dev.airflow_stack``).

Logs (components, workers, broker) are copied to ``artifacts/e2e/celery/`` whatever the outcome.
"""

from __future__ import annotations

import psycopg
import pytest
import redis

from tests.e2e.conftest import airflow_stack, finished

pytestmark = pytest.mark.slow

# Five weeks of v1 predictions (a set is in force for each) in chunks of the smallest size: ~10 chunks.
BACKFILL_CONF = {"date_from": "2025-01-22", "date_to": "2025-02-28", "chunk_size": 1000, "model_versions": ["v1"]}


@pytest.fixture(scope="module")
def celery_stack(db_url, redis_client_module):
    with airflow_stack(db_url, "celery", celery_workers=2) as (api, _, airflow):
        yield api, airflow.worker_hostnames, airflow.broker_url


def other_keys(client: redis.Redis) -> set[bytes]:
    """Keys that are not fraudcal's."""
    return {key for key in client.scan_iter() if not key.startswith(b"fraudcal:")}


@pytest.fixture(scope="module")
def backfill_run(celery_stack, db_url, redis_client_module):
    """One REST-triggered ``backfill_prediction_intervals`` run; its task instances."""
    api, _, _ = celery_stack
    with psycopg.connect(db_url) as conn:
        unfilled_before = unfilled(conn)
    calibration_redis_before = other_keys(redis_client_module)
    status, run = api.call(
        "POST", "/api/v2/dags/backfill_prediction_intervals/dagRuns", {"logical_date": None, "conf": BACKFILL_CONF}
    )
    assert status == 200, run
    done = api.wait_for(lambda: finished(api, "backfill_prediction_intervals", run["dag_run_id"]), timeout=300)
    status, instances = api.call(
        "GET", f"/api/v2/dags/backfill_prediction_intervals/dagRuns/{run['dag_run_id']}/taskInstances?limit=100"
    )
    assert status == 200, instances
    return done, instances["task_instances"], unfilled_before, calibration_redis_before


def unfilled(conn: psycopg.Connection) -> int:
    return conn.execute(
        "SELECT count(*) FROM noc_fraud_prediction_log WHERE model_version = 'v1' AND prediction_lower_bound IS NULL "
        "AND predicted_at >= '2025-01-22' AND predicted_at < '2025-03-01'"
    ).fetchone()[0]


def test_the_backfill_run_succeeds_on_celery_and_fills_every_row(backfill_run, db_url):
    run, _, unfilled_before, _ = backfill_run
    assert run["state"] == "success"
    assert unfilled_before > 1000  # the module's fresh history: these rows started empty
    with psycopg.connect(db_url) as conn:
        assert unfilled(conn) == 0


def test_the_chunks_are_spread_over_both_workers(backfill_run, celery_stack):
    _, instances, _, _ = backfill_run
    _, worker_hostnames, _ = celery_stack
    chunks = [ti for ti in instances if ti["task_id"] == "apply_chunk"]
    assert len(chunks) >= 4 and {ti["state"] for ti in chunks} == {"success"}
    # Every task instance of the run, not only the chunks, ran on a Celery worker...
    assert {ti["hostname"] for ti in instances} <= set(worker_hostnames)
    # ...and the chunks on both of them.
    assert {ti["hostname"] for ti in chunks} == set(worker_hostnames)


def test_the_celery_broker_is_not_the_calibration_redis(backfill_run, celery_stack, redis_client_module):
    *_, calibration_redis_before = backfill_run
    _, _, broker_url = celery_stack
    broker = redis.Redis.from_url(broker_url)
    # The broker carried the run (kombu's queue bindings are there)...
    assert any(key.startswith(b"_kombu.binding.") for key in broker.scan_iter())
    broker.close()
    # ...and the online service's Redis gained no key but fraudcal's.
    assert other_keys(redis_client_module) == calibration_redis_before
