"""Reads of the application's prediction log: model versions, labeled outcomes, scores.

Every statement is composed for one source table from the registry
(:mod:`fraudcal_airflow.db.sources`), so a new log is one registry entry, not a copy of each
statement. Bulk reads are one binary COPY parsed straight into numpy
(:mod:`fraudcal_airflow.db.pgcopy`) on a psycopg2 connection: psycopg2's ``copy_expert`` hands
the stream over in C, while psycopg 3's ``Copy`` yields one Python object per row and measured
1.8x slower on a million rows (``make bench``). Every other statement uses psycopg 3, as the
Postgres provider does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from fraudcal.defaults import RESIDUAL_METHOD
from fraudcal_airflow.db.pgcopy import copy_to_numpy
from fraudcal_airflow.db.sources import prediction_log
from fraudcal_airflow.db.sql import log_statement
from fraudcal_airflow.errors import InputError

if TYPE_CHECKING:
    import psycopg
    import psycopg2.extensions

    from fraudcal_airflow.outcomes import LabeledOutcomes

def known_versions(conn: psycopg.Connection, source: str, model_type: str) -> list[str]:
    """Return every model version of ``model_type`` that has logged a prediction."""
    with conn.cursor() as cur:
        cur.execute(log_statement("prediction_log/known_versions", source), {"model_type": model_type})
        versions = [row[0] for row in cur.fetchall()]
    conn.commit()
    return versions


def versions_with_outcomes(
    conn: psycopg.Connection, source: str, model_type: str, window_start: datetime, window_end: datetime
) -> list[str]:
    """Return the model versions with at least one labeled outcome in ``[window_start, window_end)``."""
    with conn.cursor() as cur:
        cur.execute(
            log_statement("prediction_log/versions_with_outcomes", source),
            {"model_type": model_type, "window_start": window_start, "window_end": window_end},
        )
        versions = [row[0] for row in cur.fetchall()]
    conn.commit()
    return versions


def resolve_versions(
    requested: Sequence[str], known: Sequence[str], model_type: str, source: str, error: type[InputError] = InputError
) -> list[str]:
    """Check requested versions against the known ones; return them sorted, de-duplicated.

    Raises
    ------
    InputError
        (or the given subclass) naming every unknown version and listing the known ones.
    """
    unknown = [version for version in requested if version not in known]
    if unknown:
        raise error(
            f"unknown model_version(s) {unknown!r} for model_type {model_type!r} in source "
            f"{source!r}: a version must have logged predictions (known: {list(known) or 'none'})"
        )
    return sorted(set(requested))


def requested_or_known_versions(
    conn: psycopg.Connection,
    source: str,
    model_type: str,
    requested: Sequence[str],
    error: type[InputError] = InputError,
) -> list[str]:
    """The requested versions (each must be known), or every known version when none is requested."""
    known = known_versions(conn, source, model_type)
    return resolve_versions(requested, known, model_type, source, error) if requested else known


def _copy(copy_conn: Any, statement: Any, params: dict[str, Any], columns: list[tuple[str, str]]) -> dict:
    """Run a composed COPY statement on the psycopg2 connection (identifiers are quoted by psycopg)."""
    return copy_to_numpy(copy_conn, statement.as_string(), params, columns)


def extract_outcomes(
    copy_conn: psycopg2.extensions.connection,
    source: str,
    model_type: str,
    model_version: str,
    window_start: datetime,
    window_end: datetime,
) -> LabeledOutcomes:
    """Extract the labeled outcomes of one version predicted in ``[window_start, window_end)``.

    One binary COPY (a single statement, so one consistent snapshot), parsed without a
    per-row Python loop. Parameters are bound client-side by ``mogrify`` (COPY takes no
    server-side parameters), with the driver's quoting: values are never formatted in.
    """
    from fraudcal_airflow.outcomes import LabeledOutcomes

    log = prediction_log(source)
    columns = [("id", "int8"), ("probability", "float8"), ("label", log.label_type), ("predicted_at", "timestamptz")]
    params = {
        "model_type": model_type,
        "model_version": model_version,
        "window_start": window_start,
        "window_end": window_end,
    }
    rows = _copy(copy_conn, log_statement("prediction_log/labeled_outcomes", source), params, columns)
    return LabeledOutcomes(
        ids=rows["id"],
        probabilities=rows["probability"],
        labels=rows["label"].astype(np.float64),
        predicted_at=rows["predicted_at"],
    )


@dataclass(frozen=True)
class VersionPeriod:
    """The predictions of one model version in one log, made in ``[time_from, time_to)``."""

    source: str
    model_type: str
    model_version: str
    time_from: datetime
    time_to: datetime

    def params(self) -> dict[str, Any]:
        """The bound parameters of the statements that read it."""
        return {
            "model_type": self.model_type,
            "model_version": self.model_version,
            "time_from": self.time_from,
            "time_to": self.time_to,
        }


def quantile_column(level: int | str) -> str:
    """The name of a level's quantile in :func:`labeled_predictions_in_force` (``q90``)."""
    return f"q{level}"


def labeled_predictions_in_force(
    copy_conn: psycopg2.extensions.connection, period: VersionPeriod, levels: Sequence[int]
) -> dict[str, np.ndarray]:
    """The labeled predictions of ``period``, each with the quantiles of the set in force.

    Returns
    -------
    dict of str to ndarray
        ``id``, ``predicted_at``, ``probability``, ``label`` (bool), ``high_risk`` (bool) and
        one ``q<level>`` per level: the quantile of the residual set in force when the
        prediction was made, NaN where none was.
    """
    columns = [
        ("id", "int8"),
        ("predicted_at", "timestamptz"),
        ("probability", "float8"),
        ("label", "bool"),
        ("high_risk", "bool"),
        *[(quantile_column(level), "float8") for level in levels],
    ]
    statement = log_statement("prediction_log/labeled_predictions_in_force", period.source, levels)
    return _copy(copy_conn, statement, {**period.params(), "method": RESIDUAL_METHOD}, columns)


def without_unusable_probabilities(rows: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], int]:
    """Drop the rows whose probability is NULL (NaN), infinite or outside [0, 1]; count them.

    The core refuses such a probability (:mod:`fraudcal.inputs`); the reports measure the rest
    and say how many rows they left out, instead of failing the report for every version.
    """
    probability = rows["probability"]
    usable = np.isfinite(probability) & (probability >= 0.0) & (probability <= 1.0)
    dropped = int(usable.size - usable.sum())
    return ({name: values[usable] for name, values in rows.items()} if dropped else rows), dropped


def latest_labeled_day(conn: psycopg.Connection, source: str, model_type: str, versions: Sequence[str]) -> date | None:
    """The last day (UTC) with a labeled prediction of these versions, or None."""
    statement = log_statement("prediction_log/latest_labeled_day", source)
    day = conn.execute(statement, {"model_type": model_type, "model_versions": list(versions)}).fetchone()[0]
    conn.commit()
    return day


def scores(copy_conn: psycopg2.extensions.connection, period: VersionPeriod) -> np.ndarray:
    """Every probability (labeled or not) of ``period``; NaN for NULL."""
    statement = log_statement("prediction_log/scores", period.source)
    return _copy(copy_conn, statement, period.params(), [("probability", "float8")])["probability"]
