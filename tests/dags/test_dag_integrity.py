"""DAG integrity: imports, parse cost, no I/O at parse, Params, tags, retries, schedule."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DAG_FILES = sorted((ROOT / "dags").glob("*.py"))
EXPECTED_DAG_IDS = {
    "calibrate_fraud_model",
    "backfill_prediction_intervals",
    "report_coverage",
    "report_drift",
    "replay_methods",
}

# Runs in a fresh interpreter, like the dag-processor: Airflow is imported first (its cost is
# not the DAG file's), then each DAG file, timed, with network connections forbidden.
PARSE_PROBE = r"""
import json, socket, sys, time, importlib.util
import airflow.sdk  # noqa: F401  (the dag-processor has it loaded already)
from airflow.sdk import DAG

def refuse(*args, **kwargs):
    raise RuntimeError(f"network access while parsing a DAG file: {args}")
socket.socket.connect = refuse
socket.create_connection = refuse

HEAVY = {"numpy", "pandas", "scipy", "xgboost", "great_expectations", "psycopg", "psycopg2", "redis", "matplotlib"}
report = {}
for path in sys.argv[1:]:
    before = set(sys.modules)
    start = time.perf_counter()
    spec = importlib.util.spec_from_file_location("probe_" + path.split("/")[-1][:-3], path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    seconds = time.perf_counter() - start
    new = {name.split(".")[0] for name in set(sys.modules) - before}
    report[path] = {"seconds": seconds, "heavy": sorted(new & HEAVY),
                    "dags": [v.dag_id for v in vars(module).values() if isinstance(v, DAG)]}
print(json.dumps(report))
"""


@pytest.fixture(scope="module")
def parse_report() -> dict:
    result = subprocess.run(
        [sys.executable, "-c", PARSE_PROBE, *map(str, DAG_FILES)],
        capture_output=True,
        text=True,
        timeout=300,
        env=os.environ.copy(),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(ROOT / "dags"))


def test_every_dag_file_imports_without_errors(dagbag):
    assert dagbag.import_errors == {}
    assert EXPECTED_DAG_IDS <= set(dagbag.dags)


def test_dag_files_parse_fast_without_heavy_imports_or_network(parse_report):
    for path, facts in parse_report.items():
        assert facts["dags"], f"{path} defines no DAG"
        assert facts["heavy"] == [], f"{path} imports {facts['heavy']} at parse time"
        assert facts["seconds"] < 0.5, f"{path} took {facts['seconds']:.2f}s to parse"


def test_dag_id_is_the_file_name(dagbag):
    for dag_id, dag in dagbag.dags.items():
        assert Path(dag.fileloc).stem == dag_id


@pytest.mark.parametrize("dag_id", sorted(EXPECTED_DAG_IDS))
def test_docs_tags_retries_and_typed_params(dagbag, dag_id):
    dag = dagbag.dags[dag_id]
    assert dag.doc_md and len(dag.doc_md) > 200
    assert "fraudcal" in dag.tags
    for task in dag.tasks:
        assert task.retries >= 1, task.task_id
        assert task.retry_exponential_backoff, task.task_id
    for name, param in dag.params.items():
        schema = param.schema
        assert "type" in schema, f"Param {name} has no type"
        assert schema.get("title"), f"Param {name} has no title for the trigger form"
        if schema["type"] in ("integer", "number") and "enum" not in schema:
            assert {"minimum", "exclusiveMinimum"} & set(schema) and "maximum" in schema, f"Param {name} is unbounded"


def test_calibration_params_have_the_documented_names_and_defaults(dagbag):
    params = dagbag.dags["calibrate_fraud_model"].params
    assert {name: params[name] for name in params} == {
        "model_type": "fraud_detector",
        "model_versions": [],
        "source": "fraud_log",
        "csv_path": None,
        "window_days": 30,
        "label_maturity_days": 0,
        "min_samples": 30,
        "coverage_levels": ["90", "95", "99"],
        "narrow_threshold": 0.2,
        "ttl_hours": 36,
        "publish": True,
        "repair": True,
        "repair_coverage_level": 90,
        "replace_other_source": False,
        "methods": ["residual", "mondrian", "venn_abers"],
        "default_method": "mondrian",
        "aci_gamma": 0.05,
        "ticket_precision": 0.95,
        "clear_npv": 0.999,
        "triage_confidence": 0.9,
        "triage_jump_factor": 2.0,
        "triage_approval": True,
    }


def test_backfill_params_have_the_documented_names_and_defaults(dagbag):
    dag = dagbag.dags["backfill_prediction_intervals"]
    params = dag.params
    assert set(params) == {
        "model_type",
        "model_versions",
        "source",
        "date_from",
        "date_to",
        "coverage_level",
        "chunk_size",
        "overwrite",
        "dry_run",
        "method",
    }
    assert (params["coverage_level"], params["chunk_size"], params["overwrite"], params["dry_run"]) == (
        90,
        100_000,
        False,
        False,
    )
    assert params.get_param("date_from").schema["format"] == "date"
    assert type(dag.timetable).__name__ == "NullTimetable"  # manual only (and REST/UI triggers)


def test_schedule_is_a_data_interval_timetable(dagbag):
    # "@daily" would give an empty data interval in Airflow 3; the run's data interval is
    # checked end to end in tests/integration (the day before the logical date).
    dag = dagbag.dags["calibrate_fraud_model"]
    assert type(dag.timetable).__name__ == "CronDataIntervalTimetable"
    assert dag.catchup is False


@pytest.mark.parametrize(
    ("conf", "param"),
    [
        ({"window_days": 0}, "window_days"),
        ({"window_days": 366}, "window_days"),
        ({"min_samples": 1}, "min_samples"),
        ({"coverage_levels": [85]}, "coverage_levels"),
        ({"coverage_levels": []}, "coverage_levels"),
        ({"source": "s3"}, "source"),
        ({"narrow_threshold": 0}, "narrow_threshold"),
        ({"ttl_hours": 0}, "ttl_hours"),
        ({"publish": "yes"}, "publish"),
        ({"label_maturity_days": "seven"}, "label_maturity_days"),
        ({"label_maturity_days": 400}, "label_maturity_days"),
        ({"label_maturity_days": -1}, "label_maturity_days"),
        ({"label_maturity_days": 7.5}, "label_maturity_days"),
        ({"aci_gamma": 0}, "aci_gamma"),
        ({"aci_gamma": 0.6}, "aci_gamma"),
        ({"methods": ["mondrian_aci", "isotonic"]}, "methods"),
    ],
)
def test_invalid_params_are_refused_before_any_run_naming_the_param(airflow_db, conf, param):
    import pendulum
    from airflow.sdk.exceptions import ParamValidationError

    from fraudcal_dev.dagtest import load_dag

    with pytest.raises(ParamValidationError, match=param):
        load_dag("calibrate_fraud_model").test(logical_date=pendulum.datetime(2025, 3, 2, tz="UTC"), run_conf=conf)


@pytest.mark.parametrize("dag_id", sorted(EXPECTED_DAG_IDS))
def test_every_param_is_described_and_lists_are_optional_or_pickable(dagbag, dag_id):
    # Found by a new user: Params without a description, "Model versions" marked required
    # although empty means every version, coverage levels as a raw JSON editor.
    for name, param in dagbag.dags[dag_id].params.items():
        schema = param.schema
        assert param.description or schema.get("description"), f"{dag_id}: Param {name} has no description"
        if name == "model_versions":
            assert "null" in schema["type"], "an empty list is a valid choice: the form must not require it"
        if schema.get("type") == "array" and "enum" in schema.get("items", {}):
            assert schema.get("examples"), f"{dag_id}: {name} should be a multi-select (examples)"


def test_coverage_levels_from_the_form_or_rest_mean_the_same_levels():
    from fraudcal_airflow.steps.calibrate import coverage_levels

    assert coverage_levels(["99", "90"]) == coverage_levels([90, 99]) == (90, 99)


def test_replay_params_have_the_documented_names_and_defaults(dagbag):
    from fraudcal.maturity import MAX_LABEL_MATURITY_DAYS
    from fraudcal.replay import REPLAY_METHODS

    dag = dagbag.dags["replay_methods"]
    params = dag.params
    assert {name: params[name] for name in params} == {
        "model_type": "fraud_detector",
        "model_versions": [],
        "source": "fraud_log",
        "date_from": None,
        "date_to": None,
        "methods": ["residual", "mondrian", "mondrian_aci", "venn_abers"],
        "aci_gamma": 0.05,
        "window_days": 30,
        "label_maturity_days": 0,
        "coverage_level": 90,
        "narrow_threshold": 0.2,
        "ticket_precision": 0.95,
        "clear_npv": 0.999,
        "triage_confidence": 0.9,
        "recipients": ["fraud-ops@example.com"],
    }
    methods = params.get_param("methods").schema
    assert methods["items"]["enum"] == list(REPLAY_METHODS)  # the form lists exactly what the core replays
    maturity = params.get_param("label_maturity_days").schema
    assert maturity["maximum"] == MAX_LABEL_MATURITY_DAYS
    assert params.get_param("date_from").schema["format"] == "date"
    assert type(dag.timetable).__name__ == "NullTimetable"  # manual only (and REST/UI triggers)


@pytest.mark.parametrize(
    ("value", "valid"),
    [(0, True), (7, True), (365, True), ("auto", True), ("7", True), ("365", True), ("0", True)]
    + [(366, False), (-1, False), ("seven", False), ("1000", False), ("Auto", False), (1.5, False)],
)
def test_replay_label_maturity_accepts_auto_or_0_to_365_as_number_or_text(dagbag, value, valid):
    # ("400" passes the form's pattern; the plan step refuses it naming it: tests/integration/test_replay_dag.py)
    import jsonschema

    from fraudcal.maturity import InvalidMaturityError, resolve_label_maturity

    schema = dagbag.dags["replay_methods"].params.get_param("label_maturity_days").schema
    try:
        jsonschema.validate(value, schema)
        accepted = True
    except jsonschema.ValidationError:
        accepted = False
    assert accepted is valid
    if valid:  # what the form lets through, the core reads
        try:
            resolve_label_maturity(value, None)
        except InvalidMaturityError as error:  # pragma: no cover - would be a mismatch of form and core
            pytest.fail(f"the form accepts {value!r} but the core refuses it: {error}")
