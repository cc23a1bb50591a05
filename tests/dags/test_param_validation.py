"""Names and addresses that reach Redis keys, file names and mail headers are refused by the Params.

The trigger form and the REST API validate the Params with the same JSON schema before a run
exists (HTTP 400); ``dag.test`` raises ``ParamValidationError`` naming the Param. The schema's
patterns are :mod:`fraudcal.names`', so the form, the data checks and the key builder share one rule.
"""

from __future__ import annotations

import jsonschema
import pendulum
import pytest

from fraudcal.names import MAIL_ADDRESS_PATTERN, SAFE_NAME_PATTERN

DAG_IDS = [
    "calibrate_fraud_model",
    "backfill_prediction_intervals",
    "report_coverage",
    "report_drift",
    "replay_methods",
]
REPORT_DAG_IDS = ["report_coverage", "report_drift", "replay_methods"]
UNSAFE_VERSIONS = ["v1:previous", "a/b", "<img src=x onerror=alert(1)>", "v1\n", "v1\r\nBcc: x@evil.example", ".."]
BAD_RECIPIENTS = [
    "ops@example.com\r\nBcc: x@evil.example",
    "ops@example.com\n",
    "ops@example.com, x@evil.example",
    "Ops <ops@example.com>",
    "a" * 250 + "@example.com",
]


def _refused(dag_id: str, conf: dict, param: str) -> None:
    from airflow.sdk.exceptions import ParamValidationError

    from fraudcal_dev.dagtest import load_dag

    with pytest.raises(ParamValidationError, match=f"Invalid input for param {param}:"):
        load_dag(dag_id).test(logical_date=pendulum.datetime(2025, 3, 2, tz="UTC"), run_conf=conf)


@pytest.mark.parametrize("dag_id", DAG_IDS)
@pytest.mark.parametrize("version", UNSAFE_VERSIONS, ids=lambda value: repr(value)[:24])
def test_an_unsafe_model_version_is_refused_before_a_run(airflow_db, dag_id, version):
    _refused(dag_id, {"model_versions": ["v1", version]}, "model_versions")


@pytest.mark.parametrize("dag_id", DAG_IDS)
@pytest.mark.parametrize("model_type", ["fraud:detector", "fraud detector", "fraud_detector\n"])
def test_an_unsafe_model_type_is_refused_before_a_run(airflow_db, dag_id, model_type):
    _refused(dag_id, {"model_type": model_type}, "model_type")


@pytest.mark.parametrize("dag_id", REPORT_DAG_IDS)
@pytest.mark.parametrize("recipient", BAD_RECIPIENTS, ids=lambda value: repr(value)[:24])
def test_a_recipient_that_is_not_a_plain_address_is_refused_before_a_run(airflow_db, dag_id, recipient):
    _refused(dag_id, {"recipients": ["fraud-ops@example.com", recipient]}, "recipients")


@pytest.mark.parametrize("dag_id", DAG_IDS)
def test_the_forms_state_the_core_name_rule_and_accept_ordinary_names(airflow_db, dag_id):
    from fraudcal_dev.dagtest import load_dag

    params = load_dag(dag_id).params
    model_type, versions = params.get_param("model_type").schema, params.get_param("model_versions").schema
    assert model_type["pattern"] == versions["items"]["pattern"] == SAFE_NAME_PATTERN
    jsonschema.validate("fraud_detector", model_type)
    jsonschema.validate(["v1", "v1.2.3", "xgb_2025-03-01"], versions)
    if dag_id in REPORT_DAG_IDS:
        recipients = params.get_param("recipients").schema
        assert recipients["items"]["pattern"] == MAIL_ADDRESS_PATTERN
        jsonschema.validate(["fraud-ops@example.com", "a.b+tag@mail.example.co"], recipients)
