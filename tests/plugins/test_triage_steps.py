"""Certified triage in the calibration DAG's steps, on real PostgreSQL and Redis.

What takes force, what waits for an operator, what the payload says, and what an approval or
a rejection changes: the steps are called directly (the human-in-the-loop task itself runs in
tests/e2e against a real Airflow).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import numpy as np
import psycopg
import pytest

from fraudcal.online import decide, load
from fraudcal.triage import certify_triage
from fraudcal_airflow.publish import publish_calibration_set, read_live_payload
from fraudcal_airflow.runtime import RunInfo
from fraudcal_airflow.steps import triage as steps

AS_OF = datetime(2025, 3, 1, tzinfo=UTC)


def window(seed: int, n: int = 40_000):
    """Calibrated scores (logit-normal p, y ~ Bernoulli(p), ~5 % fraud): both sides certify."""
    rng = np.random.default_rng(seed)
    p = 1 / (1 + np.exp(-(-6.5 + 3.5 * rng.standard_normal(n))))
    return p, rng.random(n) < p


def certificates(p, y, **targets):
    return certify_triage(p, y, **({"target_precision": 0.9, "target_npv": 0.99, "confidence": 0.9} | targets)).to_dict()


def uncertified(p, y):
    """A certificate that certifies nothing (an unreachable target)."""
    return certificates(p, y, target_precision=0.9999, target_npv=0.99999)


def run(run_id: str) -> RunInfo:
    return RunInfo("calibrate_fraud_model", run_id, "manual", AS_OF, None, {})


def record(conn, p, certs, *, as_of=AS_OF, run_id="run-1", jump_factor=2.0, approval=True):
    return steps.record_triage(
        conn,
        model_type="fd",
        model_version="v1",
        as_of=as_of,
        window_start=as_of - timedelta(days=30),
        source="fraud_log",
        scores=p,
        certificates=certs,
        jump_factor=jump_factor,
        approval=approval,
        run=run(run_id),
    )


def test_the_first_certificate_takes_force_and_a_rerun_changes_nothing(pg, db_url):
    p, y = window(0)
    certs = certificates(p, y)
    assert certs["ticket"]["certified"] and certs["clear"]["certified"]
    with psycopg.connect(db_url) as conn:
        first = record(conn, p, certs)
        again = record(conn, p, certs, run_id="run-2")
    assert first["status"] == "in_force" and "first certificates" in first["reason"]
    assert again == first  # same row, same run: the payload built from it stays byte for byte
    assert first["ticket_share"] == pytest.approx(np.mean(p >= certs["ticket"]["threshold"]))


def test_from_no_automation_to_a_certified_threshold_waits_for_an_operator(pg, db_url):
    p, y = window(1)
    with psycopg.connect(db_url) as conn:
        record(conn, p, uncertified(p, y), as_of=AS_OF - timedelta(days=1), run_id="run-0")
        pending = record(conn, p, certificates(p, y))
        triage = steps.payload_triage(conn, "fd", "v1", AS_OF)
    assert pending["status"] == "pending_approval"
    assert "ticket:" in pending["reason"] and "instead of 0.00%" in pending["reason"]
    # the payload acts on the thresholds in force (none certified) and shows the pending ones
    assert triage["ticket"]["certified"] is False and triage["as_of"] == "2025-02-28T00:00:00Z"
    assert triage["pending"]["ticket"]["threshold"] == pending["ticket"]["threshold"]


def test_a_jump_takes_force_at_once_without_approval_and_says_so(pg, db_url):
    p, y = window(2)
    with psycopg.connect(db_url) as conn:
        record(conn, p, uncertified(p, y), as_of=AS_OF - timedelta(days=1), run_id="run-0")
        row = record(conn, p, certificates(p, y), approval=False)
    assert row["status"] == "in_force" and row["reason"].startswith("taken without approval")


def test_a_similar_certificate_is_no_jump(pg, db_url):
    p, y = window(3)
    p2, y2 = window(4)
    with psycopg.connect(db_url) as conn:
        record(conn, p, certificates(p, y), as_of=AS_OF - timedelta(days=1), run_id="run-0")
        row = record(conn, p2, certificates(p2, y2))
    assert row["status"] == "in_force" and "no side automates more than 2x" in row["reason"]
    # the in-force share is measured on this window's scores, with the older threshold
    older = pg.execute("SELECT ticket_threshold FROM fraudcal.triage_certificates WHERE run_id = 'run-0'").fetchone()[0]
    assert row["in_force_ticket_share"] == pytest.approx(np.mean(p2 >= older))


def publish_window(conn, redis_client, p, as_of=AS_OF):
    """A minimal live payload for fd/v1 carrying the steps' triage object, as the publish step writes it."""
    payload = {
        "schema_version": 2,
        "model_type": "fd",
        "model_version": "v1",
        "as_of": as_of.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "calibration_set_id": 1,
        "levels": {"90": {"k": 1, "quantile": 0.1}},
        "narrow_threshold": 0.2,
        "triage": steps.payload_triage(conn, "fd", "v1", as_of),
    }
    publish_calibration_set(redis_client, payload, 1)


@pytest.mark.parametrize("approved", [True, False])
def test_an_answer_puts_the_pending_thresholds_in_force_or_closes_them(pg, db_url, redis_client, approved):
    p, y = window(5)
    certs = certificates(p, y)
    score = float(np.quantile(p[p >= certs["ticket"]["threshold"]], 0.5))  # a score the new threshold tickets
    with psycopg.connect(db_url) as conn:
        record(conn, p, uncertified(p, y), as_of=AS_OF - timedelta(days=1), run_id="run-0")
        record(conn, p, certs)
        publish_window(conn, redis_client, p)
    before = load(redis_client.get, "fd", "v1")
    assert decide(before, score)["action"] == "review"  # pending thresholds are never acted on
    assert "waits for an operator" in steps.approval_request(run("run-1"))
    if approved:
        applied = steps.apply_approved(run("run-1"), {"responded_by_user": {"id": "1", "name": "ops-lead"}}, 1)
        assert applied.published == {"fd/v1": "updated"}
        assert steps.close_unapproved(run("run-1"), 1) == []  # nothing left pending
    else:
        assert steps.close_unapproved(run("run-1"), 1) == ["fd/v1"]
    status, decided_by = pg.execute(
        "SELECT status, decided_by FROM fraudcal.triage_certificates WHERE run_id = 'run-1'"
    ).fetchone()
    live = read_live_payload(redis_client, "fd", "v1")
    assert live["triage"]["pending"] is None
    after = load(redis_client.get, "fd", "v1")
    if approved:
        assert (status, decided_by) == ("approved", "ops-lead")
        assert live["triage"]["ticket"] == certs["ticket"] and decide(after, score)["action"] == "ticket"
    else:
        assert status == "rejected" and decide(after, score)["action"] == "review"
    assert steps.approval_request(run("run-1")) == ""  # answered: nothing waits any more


def test_an_approval_never_rewrites_a_newer_live_payload(pg, db_url, redis_client):
    p, y = window(6)
    with psycopg.connect(db_url) as conn:
        record(conn, p, uncertified(p, y), as_of=AS_OF - timedelta(days=1), run_id="run-0")
        record(conn, p, certificates(p, y))
        publish_window(conn, redis_client, p, as_of=AS_OF + timedelta(days=1))  # a newer set went live meanwhile
    stored = redis_client.get("fraudcal:calibration:fd:v1")
    applied = steps.apply_approved(run("run-1"), None, 1)
    assert applied.approved and applied.published["fd/v1"].startswith("not republished")
    assert redis_client.get("fraudcal:calibration:fd:v1") == stored
    assert json.loads(stored)["as_of"] == "2025-03-02T00:00:00Z"


def test_the_jump_rule_on_both_sides():
    p = np.linspace(0, 1, 1001)
    ticket = {"side": "ticket", "certified": True, "threshold": 0.9}
    clear = {"side": "clear", "certified": True, "threshold": 0.1}
    in_force = {"ticket": ticket, "clear": clear}
    wider_clear = {"ticket": ticket, "clear": {**clear, "threshold": 0.25}}  # 25.1 % vs 10.1 % of the window
    full = lambda side: {"target": 0.9, "confidence": 0.9, "lower_bound": None, "n_automated": 0,  # noqa: E731
                         "n_correct": 0, "n_window": 1001, "candidates_tested": 1, "reason": "", **side}
    as_dicts = lambda c: {side: full(value) for side, value in c.items()}  # noqa: E731
    decision = steps.triage_decision(p, as_dicts(wider_clear), as_dicts(in_force), jump_factor=2.0, approval=True)
    assert decision.status == "pending_approval" and decision.reason.count("clear:") == 1 and "ticket:" not in decision.reason
    assert steps.triage_decision(p, as_dicts(wider_clear), as_dicts(in_force), jump_factor=3.0, approval=True).status == "in_force"
