"""End to end: a triage jump waits in ``approve_triage`` on a real Airflow and is answered over REST.

``calibrate_fraud_model`` certifies auto-ticket / auto-clear thresholds per window. A version's
first certificate takes force; a later one that automates more than ``triage_jump_factor`` x the
share of the thresholds in force (here: from an uncertified day, share 0, to a certified one) is
recorded ``pending_approval``. The run then parks ``approve_triage`` (the standard provider's
``ApprovalOperator``) in the ``awaiting_input`` state, and the answer comes through the REST API
the UI's Required Actions page uses (``PATCH .../taskInstances/{task_id}/{map_index}/hitlDetails``),
once the scheduler has processed the end of the attempt that parked (see :func:`parked_for_the_scheduler`).

Each scenario is a day pair of v1: an uncertified day (unreachable targets) puts "nothing
automated" in force, then the next day's targets, chosen beforehand from the window's labeled
rows read with SQL (:func:`fraudcal.triage.certify_triage`), certify both sides: a jump.

One stack for the module (``fraudcal_dev.airflow_stack``, see ``conftest.py``); its logs are copied
to ``artifacts/e2e/triage/`` whatever the outcome.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from fraudcal.online import decide, load
from fraudcal.triage import TriageCertificate, certify_triage
from tests.e2e.conftest import airflow_stack, finished

pytestmark = pytest.mark.slow

DAG_ID = "calibrate_fraud_model"
MODEL_TYPE, VERSION = "fraud_detector", "v1"
LIVE_KEY = f"fraudcal:calibration:{MODEL_TYPE}:{VERSION}"
#: Targets nothing can certify: the day's certificate automates nothing on either side.
UNCERTIFIED = {"ticket_precision": 0.9999, "clear_npv": 0.99999}
#: Targets tried until both sides of the jump day's window certify: the default confidence first,
#: then looser ones; within each, the strictest ticket precision first (only those the Params allow).
TICKET_PRECISIONS = (0.5, 0.4, 0.3, 0.25, 0.2, 0.15, 0.1)
CONFIDENCES = (0.9, 0.75, 0.6, 0.5)
CLEAR_NPV = 0.99
WINDOW_DAYS = 30  # the Param window_days' default
RUN_TIMEOUT = 300


@pytest.fixture(scope="module")
def stack(db_url, redis_client_module):
    """The real Airflow, with no triage rows stored before or after the module.

    The module's history holds calibration sets but no triage rows; rows left by an earlier module
    of the session would change what is "in force before" (and rows left here would make another
    module's run wait for an approval), hence the truncations.
    """
    truncate_triage(db_url)
    try:
        with airflow_stack(db_url, "triage") as (api, _, airflow):
            yield api, airflow
    finally:
        truncate_triage(db_url)


def truncate_triage(db_url: str) -> None:
    with psycopg.connect(db_url) as conn:
        conn.execute("TRUNCATE fraudcal.triage_certificates RESTART IDENTITY")


def midnight(day: str) -> datetime:
    return datetime.fromisoformat(day).replace(tzinfo=UTC)


def jump_targets(db_url: str, day: str) -> tuple[dict, TriageCertificate]:
    """Targets that certify both sides of v1's window ending at ``day``, and what they certify.

    The window's labeled rows are read with SQL, exactly those the extract step snapshots.
    """
    import numpy as np

    as_of = midnight(day)
    with psycopg.connect(db_url) as conn:
        rows = conn.execute(
            "SELECT fraud_probability, actual_fraud_detected::int FROM noc_fraud_prediction_log "
            "WHERE model_type = %s AND model_version = %s AND predicted_at >= %s AND predicted_at < %s "
            "AND actual_fraud_detected IS NOT NULL",
            (MODEL_TYPE, VERSION, as_of - timedelta(days=WINDOW_DAYS), as_of),
        ).fetchall()
    scores, labels = np.array([row[0] for row in rows]), np.array([row[1] for row in rows])
    for targets in candidate_targets():
        certificate = certify_triage(
            scores,
            labels,
            target_precision=targets["ticket_precision"],
            target_npv=targets["clear_npv"],
            confidence=targets["triage_confidence"],
        )
        if certificate.ticket.certified and certificate.clear.certified:
            return targets, certificate
    raise AssertionError(
        f"no targets of {list(candidate_targets())} certify both sides of v1's window ending {day} ({len(rows)} rows)"
    )


def candidate_targets() -> list[dict]:
    """The targets :func:`jump_targets` tries, within the ranges of the DAG's Params."""
    from fraudcal_airflow.params import triage_params

    schema = {name: param.schema for name, param in triage_params().items()}

    def allowed(name: str, value: float) -> bool:
        return schema[name].get("minimum", 0) <= value <= schema[name].get("maximum", 1)

    return [
        {"ticket_precision": precision, "clear_npv": CLEAR_NPV, "triage_confidence": confidence}
        for confidence in CONFIDENCES
        if allowed("triage_confidence", confidence)
        for precision in TICKET_PRECISIONS
        if allowed("ticket_precision", precision)
    ]


def trigger(api, day: str, conf: dict) -> str:
    status, run = api.call(
        "POST",
        f"/api/v2/dags/{DAG_ID}/dagRuns",
        {"logical_date": f"{day}T00:00:00Z", "conf": {"model_versions": [VERSION], **conf}},
    )
    assert status == 200, run
    return run["dag_run_id"]


def run_to_the_end(api, run_id: str) -> dict:
    return api.wait_for(lambda: finished(api, DAG_ID, run_id), timeout=RUN_TIMEOUT)


def task_states(api, run_id: str) -> dict[str, str | None]:
    status, body = api.call("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances?limit=100")
    assert status == 200, body
    return {ti["task_id"]: ti["state"] for ti in body["task_instances"] if ti["map_index"] == -1}


def task_state(api, run_id: str, task_id: str) -> str | None:
    status, body = api.call("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/{task_id}")
    return body.get("state") if status == 200 else None


def awaiting_input(api, run_id: str) -> bool:
    """Wait until ``approve_triage`` parks; fail at once if the run ends instead."""
    state = task_state(api, run_id, "approve_triage")
    if state in ("success", "failed", "skipped", "upstream_failed"):
        raise AssertionError(f"approve_triage ended {state} instead of waiting: {task_states(api, run_id)}")
    if finished(api, DAG_ID, run_id):
        raise AssertionError(f"the run ended before approve_triage waited: {task_states(api, run_id)}")
    return state == "awaiting_input"


def xcom(api, run_id: str, task_id: str):
    status, body = api.call(
        "GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/return_value"
    )
    assert status == 200, body
    value = body["value"]
    return json.loads(value) if isinstance(value, str) else value


def approval_try(api, run_id: str) -> tuple[str, int]:
    status, ti = api.call("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/approve_triage")
    assert status == 200, ti
    return ti["state"], ti["try_number"]


def parked_for_the_scheduler(airflow, run_id: str, try_number: int) -> bool:
    """Whether the scheduler has processed the executor's end of the attempt that parked ``approve_triage``.

    Answering before that races it in Airflow 3.3.2: the scheduler may queue the resumed attempt
    first, then take the parking attempt's stale "success" event (same try number) for a task
    killed externally ("state mismatch"), mark it up_for_retry, and the retry asks again with the
    answer erased. An operator answers minutes later; a script must wait for this.
    """
    log = (airflow.home / "logs" / "scheduler.log").read_text(errors="replace")
    return any(
        f"task_id=approve_triage, run_id={run_id}," in line
        and "state=awaiting_input" in line
        and f"try_number={try_number}," in line
        for line in log.splitlines()
        if "TaskInstance Finished:" in line
    )


def answer(api, airflow, run_id: str, option: str) -> tuple[dict, int]:
    """Answer the parked ``approve_triage`` as the stack's admin; returns the response and the try answered."""
    state, try_number = approval_try(api, run_id)
    assert state == "awaiting_input"
    api.wait_for(lambda: parked_for_the_scheduler(airflow, run_id, try_number), timeout=60, every=0.5)
    status, body = api.call(
        "PATCH",
        f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/approve_triage/-1/hitlDetails",
        {"chosen_options": [option], "params_input": {}},
    )
    assert status == 200, body
    return body, try_number


def run_to_the_end_after(api, run_id: str, answered_try: int) -> dict:
    """Wait for the run to end; fail at once if the answer was lost (approve_triage retried and asks again)."""

    def done():
        state, try_number = approval_try(api, run_id)
        if try_number > answered_try:
            raise AssertionError(
                f"the answer to try {answered_try} was lost: approve_triage is at try {try_number} ({state}) "
                "and asks again; see 'state mismatch' in artifacts/e2e/triage/scheduler.log"
            )
        return finished(api, DAG_ID, run_id)

    return api.wait_for(done, timeout=RUN_TIMEOUT)


def triage_row(db_url: str, day: str) -> dict:
    """The current triage row of v1's window ending at ``day``."""
    from psycopg.rows import dict_row

    with psycopg.connect(db_url, row_factory=dict_row) as conn:
        row = conn.execute(
            "SELECT * FROM fraudcal.triage_certificates WHERE model_type = %s AND model_version = %s "
            "AND as_of = %s AND superseded_at IS NULL",
            (MODEL_TYPE, VERSION, midnight(day)),
        ).fetchone()
    assert row is not None, f"no current triage row for {day}"
    return row


def without_triage(payload: dict) -> dict:
    return {key: value for key, value in payload.items() if key != "triage"}


def action(redis_client, score: float) -> str:
    return decide(load(redis_client.get, MODEL_TYPE, VERSION), score)["action"]


def uncertified_day_in_force(api, db_url: str, day: str) -> dict:
    """Run ``day`` with unreachable targets: its uncertified row takes force, nothing waits."""
    run_id = trigger(api, day, UNCERTIFIED)
    done = run_to_the_end(api, run_id)
    states = task_states(api, run_id)
    assert done["state"] == "success", states
    assert states["triage_jumps"] == "success" and states["approve_triage"] == "skipped", states
    row = triage_row(db_url, day)
    assert row["status"] == "in_force", row["reason"]
    assert not row["ticket"]["certified"] and not row["clear"]["certified"]
    return row


def parked_jump(api, db_url: str, redis_client, day: str, before: dict) -> tuple[str, TriageCertificate, float]:
    """Run ``day`` with certifying targets; check the state while ``approve_triage`` waits.

    Returns the run id, the certificate the day certifies, and a score above its ticket threshold.
    """
    targets, expected = jump_targets(db_url, day)
    run_id = trigger(api, day, {**targets, "triage_approval": True})
    api.wait_for(lambda: awaiting_input(api, run_id), timeout=RUN_TIMEOUT)

    status, run = api.call("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}")
    assert run["state"] == "running"
    row = triage_row(db_url, day)
    assert row["status"] == "pending_approval", row["reason"]
    assert (row["ticket"], row["clear"]) == (expected.ticket.to_dict(), expected.clear.to_dict())
    assert row["in_force_ticket_share"] == 0 and row["ticket_share"] > 0 and row["run_id"] == run_id

    # The new sets are live; the thresholds in force stay; the new ones are shown, not acted on.
    payload = json.loads(redis_client.get(LIVE_KEY))
    assert payload["as_of"] == f"{day}T00:00:00Z"
    triage = payload["triage"]
    assert triage["ticket"] == before["ticket"] and triage["clear"] == before["clear"]
    assert triage["as_of"] == before["as_of"].astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    pending = triage["pending"]
    assert pending["ticket"] == expected.ticket.to_dict() and pending["clear"] == expected.clear.to_dict()
    assert pending["as_of"] == f"{day}T00:00:00Z" and "waits for an operator" in pending["reason"]
    score = (expected.ticket.threshold + 1) / 2  # above the new ticket threshold
    assert action(redis_client, score) == "review"
    assert action(redis_client, expected.clear.threshold / 2) == "review"  # below the new clear threshold

    # What the UI's Required Actions page lists for the run: one open question, with the table.
    status, listed = api.call("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/hitlDetails")
    assert status == 200, listed
    assert listed["total_entries"] == 1
    detail = listed["hitl_details"][0]
    assert detail["task_instance"]["task_id"] == "approve_triage"
    assert detail["task_instance"]["state"] == "awaiting_input"
    assert detail["response_received"] is False and detail["options"] == ["Approve", "Reject"]
    assert detail["defaults"] == ["Reject"]
    assert f"| {MODEL_TYPE}/{VERSION} | {day}T00:00:00Z | ticket | {expected.ticket.threshold:.4f} |" in detail["body"]
    return run_id, expected, score


def test_an_approved_jump_takes_force_with_the_responders_name(stack, db_url, redis_client_module):
    api, airflow = stack
    before = uncertified_day_in_force(api, db_url, "2025-02-19")
    run_id, expected, score = parked_jump(api, db_url, redis_client_module, "2025-02-20", before)
    live_before = json.loads(redis_client_module.get(LIVE_KEY))

    response, answered_try = answer(api, airflow, run_id, "Approve")
    assert response["chosen_options"] == ["Approve"] and response["responded_by"]["name"] == airflow.username
    done = run_to_the_end_after(api, run_id, answered_try)
    states = task_states(api, run_id)
    assert done["state"] == "success", states
    assert {task: states[task] for task in ("approve_triage", "apply_triage", "close_triage")} == {
        "approve_triage": "success",
        "apply_triage": "success",
        "close_triage": "success",
    }

    row = triage_row(db_url, "2025-02-20")
    assert row["status"] == "approved" and row["decided_by"] == airflow.username and row["decided_at"] is not None
    applied = xcom(api, run_id, "apply_triage")
    assert applied["approved"] == {f"{MODEL_TYPE}/{VERSION}": row["id"]}
    assert applied["published"][f"{MODEL_TYPE}/{VERSION}"] == "updated"  # same as_of, new triage object
    assert xcom(api, run_id, "close_triage") == []  # nothing was left pending

    payload = json.loads(redis_client_module.get(LIVE_KEY))
    assert without_triage(payload) == without_triage(live_before)  # only the triage object was republished
    triage = payload["triage"]
    assert triage["ticket"] == expected.ticket.to_dict() and triage["clear"] == expected.clear.to_dict()
    assert triage["as_of"] == "2025-02-20T00:00:00Z" and triage["pending"] is None
    assert action(redis_client_module, score) == "ticket"
    assert action(redis_client_module, expected.clear.threshold / 2) == "clear"

    status, detail = api.call(
        "GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/approve_triage/-1/hitlDetails"
    )
    assert status == 200 and detail["response_received"] and detail["chosen_options"] == ["Approve"]
    assert detail["responded_by_user"]["name"] == airflow.username


def test_a_rejected_jump_keeps_the_thresholds_in_force_and_drops_pending(stack, db_url, redis_client_module):
    api, airflow = stack
    # An uncertified day first (nothing jumps when automation shrinks): then the same jump again.
    before = uncertified_day_in_force(api, db_url, "2025-02-21")
    run_id, expected, score = parked_jump(api, db_url, redis_client_module, "2025-02-22", before)
    live_before = json.loads(redis_client_module.get(LIVE_KEY))

    response, answered_try = answer(api, airflow, run_id, "Reject")
    assert response["chosen_options"] == ["Reject"]
    done = run_to_the_end_after(api, run_id, answered_try)
    states = task_states(api, run_id)
    assert done["state"] == "success", states
    assert {task: states[task] for task in ("approve_triage", "apply_triage", "close_triage")} == {
        "approve_triage": "success",  # an answer, whatever it is, is the task's success
        "apply_triage": "skipped",
        "close_triage": "success",
    }

    row = triage_row(db_url, "2025-02-22")
    assert row["status"] == "rejected" and row["decided_at"] is not None, row
    assert xcom(api, run_id, "close_triage") == [f"{MODEL_TYPE}/{VERSION}"]

    payload = json.loads(redis_client_module.get(LIVE_KEY))
    assert payload["triage"] == {**live_before["triage"], "pending": None}
    assert payload["triage"]["ticket"] == before["ticket"] and payload["triage"]["as_of"] == "2025-02-21T00:00:00Z"
    assert without_triage(payload) == without_triage(live_before)  # the run's sets stay live as published
    assert action(redis_client_module, score) == "review"
