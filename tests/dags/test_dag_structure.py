"""Each DAG's task graph, and the rule that a DAG file is wiring only.

The task ids and their upstream tasks are what the UI, the REST API, ``airflow tasks`` and the
tests address; a change to them is a change of interface and must be deliberate.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

#: task id -> its upstream task ids, per DAG.
EXPECTED_GRAPHS = {
    "calibrate_fraud_model": {
        "plan": set(),
        "calibrate_version.extract": {"plan"},
        "calibrate_version.validate": {"calibrate_version.extract"},
        "calibrate_version.compute": {"calibrate_version.validate"},
        "calibrate_version.record": {"calibrate_version.compute"},
        "calibrate_version.publish": {"calibrate_version.record"},
        "repair_intervals": {"plan"},
        # the day's label snapshot (label maturity), once per run for the model type
        "snapshot_labels": {"plan"},
        # certified triage: a jump waits for an operator (human-in-the-loop) after every version ran
        "triage_jumps": {"calibrate_version.publish"},
        "approve_triage": {"triage_jumps"},
        "apply_triage": {"approve_triage"},
        "close_triage": {"apply_triage"},
        "any_version_failed": {"calibrate_version.publish"},
    },
    "backfill_prediction_intervals": {
        "plan": set(),
        "chunks": {"plan"},
        "apply_chunk": {"plan", "chunks"},
        "verify": {"plan", "apply_chunk"},
    },
    "report_coverage": {"build_report": set(), "send_report": {"build_report"}},
    "report_drift": {"monitor": set(), "notify": {"monitor"}, "request_retraining": {"monitor"}},
    "replay_methods": {
        "plan": set(),
        "extract": {"plan"},
        "replay": {"plan", "extract"},
        "build_report": {"plan", "replay"},
        "send_report": {"build_report"},
    },
}


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(ROOT / "dags"))


@pytest.mark.parametrize("dag_id", sorted(EXPECTED_GRAPHS))
def test_task_ids_and_dependencies(dagbag, dag_id):
    dag = dagbag.dags[dag_id]
    graph = {task.task_id: set(task.upstream_task_ids) for task in dag.tasks}
    assert graph == EXPECTED_GRAPHS[dag_id]


def test_outlets_are_the_documented_assets(dagbag):
    def outlets(dag_id: str, task_id: str) -> set[str]:
        return {asset.name for asset in dagbag.dags[dag_id].get_task(task_id).outlets}

    assert outlets("calibrate_fraud_model", "calibrate_version.record") == {"fraudcal_calibration_sets"}
    assert outlets("backfill_prediction_intervals", "verify") == {"fraudcal_prediction_intervals"}
    assert outlets("report_drift", "request_retraining") == {"fraud_model_retraining_requested"}


#: What a DAG file must not hold: SQL, hand-pushed XCom keys, run-type checks, window
#: arithmetic, database or Redis clients. Each is a step's job (plugins/fraudcal_airflow/steps).
FORBIDDEN_IN_DAG_FILES = {
    "SQL": re.compile(r"\b(SELECT|INSERT|UPDATE|DELETE)\b|load_sql|log_statement"),
    "hand-pushed XCom": re.compile(r"xcom_push|xcom_pull"),
    "run-type check": re.compile(r"run_type"),
    "window arithmetic": re.compile(r"timedelta|data_interval"),
    "client": re.compile(r"psycopg|redis\.|PostgresHook|RedisHook"),
}


@pytest.mark.parametrize("path", sorted((ROOT / "dags").glob("*.py")), ids=lambda path: path.stem)
def test_dag_files_are_wiring_only(path):
    text = path.read_text(encoding="utf-8")
    code = text.split('"""', 2)[2]  # the module docstring may describe what the steps do
    for what, pattern in FORBIDDEN_IN_DAG_FILES.items():
        assert not pattern.search(code), f"{path.name} holds {what}: {pattern.search(code).group(0)!r}"
    lines = len(code.splitlines())  # the docstring is the DAG's doc_md: it may be as long as it needs
    assert lines <= 150, f"{path.name} has {lines} lines of code: move logic into a step"
