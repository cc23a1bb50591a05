"""The steps of ``calibrate_fraud_model``, as plain functions of explicit arguments.

The DAG file only wires these into tasks. Each step takes the values it needs (no Airflow
context), so it can be read, called and tested on its own; the DAG's tasks turn Params and
the data interval into those values.

Order for each model version: extract a snapshot → validate it (GX) → compute the set →
record it in PostgreSQL → publish it to Redis. A failure at any step leaves everything after
it undone: nothing is recorded without a valid snapshot, nothing is published unless recorded.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fraudcal_airflow.errors import CalibrationInputError
from fraudcal_airflow.outcomes import DB_SOURCES, LabeledOutcomes

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CalibrationWindow:
    """The window of one calibration run: outcomes predicted in ``[start, as_of)``."""

    start: datetime
    as_of: datetime

    @classmethod
    def ending_at(cls, as_of: datetime, window_days: int) -> CalibrationWindow:
        """The window of ``window_days`` days ending at ``as_of``."""
        if as_of.tzinfo is None:
            raise ValueError(f"as_of {as_of!r} must carry a time zone")
        if not 1 <= window_days <= 365:
            raise CalibrationInputError(f"window_days={window_days!r} must be an integer in 1..365")
        as_of = plain_utc(as_of)
        return cls(start=as_of - timedelta(days=window_days), as_of=as_of)

    def as_dict(self) -> dict[str, str]:
        return {"window_start": self.start.isoformat(), "as_of": self.as_of.isoformat()}

    @classmethod
    def from_dict(cls, values: dict[str, str]) -> CalibrationWindow:
        return cls(start=datetime.fromisoformat(values["window_start"]), as_of=datetime.fromisoformat(values["as_of"]))


def plain_utc(moment: datetime) -> datetime:
    """Return ``moment`` as a standard-library datetime in UTC.

    Airflow hands out pendulum datetimes, whose arithmetic and ISO output differ in small
    ways from the standard library's; fraudcal stores and compares plain UTC datetimes.
    """
    return datetime.fromtimestamp(moment.timestamp(), tz=UTC)


def as_of_for_run(data_interval_end: datetime | None, run_after: datetime | None) -> datetime:
    """Return the ``as_of`` of a run: its data interval end.

    A run triggered without a logical date has no data interval; it then calibrates as of
    the last midnight (UTC) before it was queued, like a scheduled run of that day.
    """
    if data_interval_end is not None:
        return plain_utc(data_interval_end)
    if run_after is None:
        raise ValueError("a run needs a data interval or a run_after time to know its as_of")
    moment = plain_utc(run_after)
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def safe_name(value: str) -> str:
    """A file-system-safe, collision-free name for a model version or run id."""
    readable = re.sub(r"[^A-Za-z0-9._-]+", "_", value)[:60].strip("._") or "x"
    return f"{readable}-{hashlib.sha256(value.encode()).hexdigest()[:8]}"


def run_folder(artifacts: Path, kind: str, dag_id: str, run_id: str, model_version: str) -> Path:
    """The artifacts folder of one model version in one run (snapshots, data docs)."""
    return artifacts / kind / safe_name(dag_id) / safe_name(run_id) / safe_name(model_version)


def plan_versions(
    *,
    conn: Any,
    source: str,
    model_type: str,
    requested_versions: list[str],
    window: CalibrationWindow,
    csv_frame: Any = None,
) -> list[str]:
    """Return the model versions to calibrate.

    An empty request means every version with labeled outcomes in the window. A requested
    version that never logged a prediction is an input error (bound as a query parameter,
    so a value such as ``"v1'; DROP TABLE ..."`` is only ever compared, never executed).
    """
    from fraudcal_airflow import outcomes

    if source in DB_SOURCES:
        known = outcomes.known_versions(conn, source, model_type)
        available = outcomes.versions_with_outcomes(conn, source, model_type, window.start, window.as_of)
    else:
        of_type = csv_frame[csv_frame["model_type"] == model_type]
        known = sorted(of_type["model_version"].dropna().unique().tolist())
        in_window = of_type[(of_type["predicted_at"] >= window.start) & (of_type["predicted_at"] < window.as_of)]
        available = sorted(in_window["model_version"].dropna().unique().tolist())
    if requested_versions:
        return outcomes.resolve_versions(list(requested_versions), known, model_type, source)
    if not available:
        log.warning(
            "No model version of %r has labeled outcomes in [%s, %s) of source %r: nothing to calibrate.",
            model_type,
            window.start,
            window.as_of,
            source,
        )
    return available


def validation_failure_message(
    model_type: str, model_version: str, window: CalibrationWindow, failures: list[str]
) -> str:
    """The error a failed validation ends with: what was checked, and each broken rule."""
    lines = "\n  - ".join(failures)
    return (
        f"labeled outcomes of {model_type}/{model_version} in [{window.start:%Y-%m-%d}, {window.as_of:%Y-%m-%d}) "
        f"failed validation; nothing was recorded or published and the live Redis set is unchanged:\n  - {lines}"
    )


def describe_outcomes(outcomes: LabeledOutcomes) -> str:
    """One log line about a snapshot."""
    labels = outcomes.labels
    return f"{len(outcomes)} labeled outcomes, {int((labels == 1).sum())} fraud"
