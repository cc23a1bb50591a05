"""Certified triage in ``calibrate_fraud_model``: record, put in force, ask for approval, publish.

Each calibration window certifies an auto-ticket and an auto-clear threshold
(:func:`fraudcal.triage.certify_triage`, computed by the compute step next to the sets). Here:

* :func:`record_triage` stores them in ``fraudcal.triage_certificates`` and decides whether
  they take force at once (:func:`triage_decision`): a version's first certificate does; a
  later one does unless it would automate more than ``triage_jump_factor`` times the share of
  the window that the thresholds in force automate (on either side), in which case it waits
  for an operator (``pending_approval``) and the thresholds in force stay;
* :func:`payload_triage` is the payload's ``triage`` object: the thresholds in force (what
  the online service's :func:`fraudcal.online.decide` acts on) and the pending ones;
* :func:`approval_request` writes the operator's question (the DAG's ``approve_triage``
  task, Airflow's human-in-the-loop :class:`ApprovalOperator`); :func:`apply_approved` puts
  approved certificates in force and republishes the live payload's ``triage`` object;
  :func:`close_unapproved` marks what was not approved (rejected, or no answer in time).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fraudcal_airflow.runtime import RunInfo

IN_FORCE, PENDING = "in_force", "pending_approval"


@dataclass(frozen=True)
class TriageDecision:
    """Whether a window's certificates take force, and the shares the decision compared."""

    status: str
    reason: str
    in_force_ticket_share: float | None
    in_force_clear_share: float | None


def _share(scores: Any, certificate: Mapping[str, Any] | None) -> float | None:
    """Share of ``scores`` a stored certificate automates (None without a certificate)."""
    from fraudcal.triage import ThresholdCertificate, automated_share

    if certificate is None:
        return None
    return automated_share(scores, ThresholdCertificate.from_dict(certificate))


def triage_decision(
    scores: Any,
    new: Mapping[str, Mapping[str, Any]],
    in_force: Mapping[str, Any] | None,
    *,
    jump_factor: float,
    approval: bool,
) -> TriageDecision:
    """Decide whether a window's certificates take force at once or wait for an operator.

    Parameters
    ----------
    scores : ndarray
        The window's scores: both the new and the in-force thresholds are measured on them, so
        that the comparison is of thresholds, not of days.
    new : mapping
        The window's certificates, ``{"ticket": {...}, "clear": {...}}`` (``to_dict`` form).
    in_force : mapping or None
        The row of ``fraudcal.triage_in_force`` in force before this window, or None.
    jump_factor : float
        A side whose new threshold automates more than ``jump_factor`` x the in-force share
        (including any automation where the thresholds in force automate nothing) is a jump.
    approval : bool
        The Param ``triage_approval``: off, a jump takes force at once (and the reason says so).
    """
    if in_force is None:
        return TriageDecision(IN_FORCE, "the version's first certificates: nothing was in force before", None, None)
    shares = {side: (_share(scores, new[side]), _share(scores, in_force[side])) for side in ("ticket", "clear")}
    jumps = [
        f"{side}: {new_share:.2%} of the window instead of {old_share:.2%} (limit {jump_factor:g}x)"
        for side, (new_share, old_share) in shares.items()
        if new_share > jump_factor * old_share
    ]
    old_ticket, old_clear = shares["ticket"][1], shares["clear"][1]
    if not jumps:
        return TriageDecision(IN_FORCE, f"no side automates more than {jump_factor:g}x the thresholds in force", old_ticket, old_clear)
    said = "; ".join(jumps)
    if not approval:
        return TriageDecision(IN_FORCE, f"taken without approval (triage_approval=false): {said}", old_ticket, old_clear)
    return TriageDecision(PENDING, f"waits for an operator's approval: {said}", old_ticket, old_clear)


def record_triage(
    conn: Any,
    *,
    model_type: str,
    model_version: str,
    as_of: datetime,
    window_start: datetime,
    source: str,
    scores: Any,
    certificates: Mapping[str, Any],
    jump_factor: float,
    approval: bool,
    run: RunInfo,
) -> dict[str, Any]:
    """Record a window's certificates and whether they took force; return the current row."""
    from fraudcal_airflow.db import triage as table

    before = table.in_force_before(conn, model_type, model_version, as_of)
    decision = triage_decision(scores, certificates, before, jump_factor=jump_factor, approval=approval)
    ticket, clear = certificates["ticket"], certificates["clear"]
    row = table.record_certificate(
        conn,
        {
            "model_type": model_type,
            "model_version": model_version,
            "as_of": as_of,
            "window_start": window_start,
            "source": source,
            "n": int(ticket["n_window"]),
            "confidence": float(certificates["confidence"]),
            "ticket": dict(ticket),
            "clear": dict(clear),
            "ticket_threshold": ticket["threshold"],
            "clear_threshold": clear["threshold"],
            "ticket_share": _share(scores, ticket),
            "clear_share": _share(scores, clear),
            "in_force_ticket_share": decision.in_force_ticket_share,
            "in_force_clear_share": decision.in_force_clear_share,
            "jump_factor": float(jump_factor),
            "status": decision.status,
            "reason": decision.reason,
            "dag_id": run.dag_id,
            "run_id": run.run_id,
        },
    )
    print(
        f"triage {model_type}/{model_version}: ticket {_threshold_words(ticket)}, clear {_threshold_words(clear)}; "
        f"{row['status']} ({row['reason']})"
    )
    return row


def _threshold_words(certificate: Mapping[str, Any]) -> str:
    if not certificate["certified"]:
        return "not certified"
    return f"{certificate['threshold']:.4f} ({certificate['n_automated']:,} window rows)"


def _utc(moment: datetime) -> str:
    from fraudcal.calibration_set import utc_timestamp

    return utc_timestamp(moment)


def payload_triage(conn: Any, model_type: str, model_version: str, as_of: datetime) -> dict[str, Any] | None:
    """The payload's ``triage`` object once the window ending at ``as_of`` is recorded (None: no rows).

    ``ticket`` / ``clear`` / ``confidence`` / ``as_of`` are the thresholds in force (the newest
    in-force row with ``as_of`` not after this window's); ``pending`` holds this window's
    certificates while they wait for an operator, else None. Without anything in force the
    two sides are null and the online service sends every score to review.
    """
    from fraudcal_airflow.db import triage as table

    in_force = table.in_force_at(conn, model_type, model_version, as_of)
    own = table.current_at(conn, model_type, model_version, as_of)
    if in_force is None and own is None:
        return None
    pending = None
    if own is not None and own["status"] == PENDING:
        pending = {"ticket": own["ticket"], "clear": own["clear"], "as_of": _utc(own["as_of"]), "reason": own["reason"]}
    return {
        "confidence": None if in_force is None else in_force["confidence"],
        "ticket": None if in_force is None else in_force["ticket"],
        "clear": None if in_force is None else in_force["clear"],
        "as_of": None if in_force is None else _utc(in_force["as_of"]),
        "pending": pending,
    }


def approval_request(run: RunInfo) -> str:
    """The operator's question for the run's pending certificates, as Markdown ('' when none wait)."""
    from fraudcal_airflow.connections import fraud_db_connection
    from fraudcal_airflow.db import triage as table

    with fraud_db_connection() as conn:
        pending = table.pending_of_run(conn, run.dag_id, run.run_id)
    if not pending:
        print("no certified threshold waits for approval")
        return ""
    lines = [
        "New certified triage thresholds would automate much more than the thresholds in force. "
        "The calibration sets are published; the thresholds in force stay until you approve.",
        "",
        "| model | window as_of | side | new threshold | share of window | share under thresholds in force | certified bound |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in pending:
        for side in ("ticket", "clear"):
            certificate = row[side]
            threshold = "not certified" if not certificate["certified"] else f"{certificate['threshold']:.4f}"
            old = row[f"in_force_{side}_share"]
            bound = certificate["lower_bound"]
            lines.append(
                f"| {row['model_type']}/{row['model_version']} | {_utc(row['as_of'])} | {side} | {threshold} "
                f"| {row[f'{side}_share']:.2%} | {'-' if old is None else f'{old:.2%}'} "
                f"| {'-' if bound is None else f'{bound:.4f}'} (target {certificate['target']}) |"
            )
    lines += ["", *(f"- {row['model_type']}/{row['model_version']}: {row['reason']}" for row in pending)]
    body = "\n".join(lines)
    print(body)
    return body


@dataclass(frozen=True)
class AppliedTriage:
    """What :func:`apply_approved` did, per version: ``approved`` ids and the publish outcomes."""

    approved: dict[str, int]
    published: dict[str, str]

    def as_dict(self) -> dict[str, Any]:
        return {"approved": dict(self.approved), "published": dict(self.published)}


def responder(approval: Mapping[str, Any] | None) -> str:
    """Who answered the human-in-the-loop request (its XCom), for ``decided_by``."""
    user = (approval or {}).get("responded_by_user") or {}
    return str(user.get("name") or user.get("id") or "unknown operator")


def apply_approved(run: RunInfo, approval: Mapping[str, Any] | None, ttl_hours: float) -> AppliedTriage:
    """Put the run's approved certificates in force and republish each live payload's ``triage``.

    Only the ``triage`` object of the live payload changes (:func:`republish_triage`).
    """
    from fraudcal_airflow.connections import fraud_db_connection
    from fraudcal_airflow.db import triage as table

    approved, published = {}, {}
    with fraud_db_connection() as conn:
        for row in table.pending_of_run(conn, run.dag_id, run.run_id):
            if table.decide(conn, row["id"], approved=True, decided_by=responder(approval)) is None:
                continue
            name = f"{row['model_type']}/{row['model_version']}"
            approved[name] = int(row["id"])
            published[name] = republish_triage(conn, row, ttl_hours)
    print(f"approved {approved or 'nothing'}; live payloads {published or 'unchanged'}")
    return AppliedTriage(approved, published)


def republish_triage(conn: Any, row: Mapping[str, Any], ttl_hours: float) -> str:
    """Rewrite the ``triage`` object of the live payload of ``row``'s window, atomically.

    Only when the live payload is still that window's (same ``as_of``): a newer live set keeps
    its own object, and a decision on an older window counts from the next calibration run.
    Returns the publish outcome, or why nothing was written.
    """
    from fraudcal_airflow.connections import calibration_redis
    from fraudcal_airflow.publish import companion_keys, publish_calibration_set, read_live_payload

    client = calibration_redis()
    model_type, model_version = row["model_type"], row["model_version"]
    live = read_live_payload(client, model_type, model_version)
    if live is None or live.get("as_of") != _utc(row["as_of"]):
        return "not republished: the live payload is another window's; the decision counts from the next run"
    live["triage"] = payload_triage(conn, model_type, model_version, row["as_of"])
    stored = client.get(companion_keys(model_type, model_version)[0])
    companion = None if stored is None else _json(stored)
    return publish_calibration_set(client, live, ttl_hours, companion).value


def _json(stored: bytes | str) -> dict[str, Any]:
    import json

    return json.loads(stored)


def close_unapproved(run: RunInfo, ttl_hours: float) -> list[str]:
    """Mark the run's certificates still pending as rejected (the operator rejected, or did not answer).

    The live payloads lose their ``pending`` object; the thresholds in force stay.
    """
    from fraudcal_airflow.connections import fraud_db_connection
    from fraudcal_airflow.db import triage as table

    closed = []
    with fraud_db_connection() as conn:
        for row in table.pending_of_run(conn, run.dag_id, run.run_id):
            if table.decide(conn, row["id"], approved=False, decided_by="operator (rejected or no answer in time)"):
                closed.append(f"{row['model_type']}/{row['model_version']}")
                republish_triage(conn, row, ttl_hours)
    print(f"rejected: {closed or 'nothing'}; the thresholds in force stay")
    return closed


def fail_for_failed_versions() -> None:
    """Fail on purpose: a version's calibration failed upstream (the run must end failed).

    ``triage_jumps`` runs when all versions are done, failed ones included, so that the
    versions that succeeded still get their approval; without this leaf the run would end
    ``success`` although a version failed.

    Raises
    ------
    VersionFailedError
    """
    from fraudcal_airflow.errors import VersionFailedError

    raise VersionFailedError("a model version's calibration failed: see its failed task; the other versions went on")
