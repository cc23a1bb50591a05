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

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from fraudcal.defaults import MONDRIAN_METHOD, RESIDUAL_METHOD
from fraudcal.names import check_name
from fraudcal_airflow.db.pgcopy import copy_to_numpy
from fraudcal_airflow.db.sources import prediction_log
from fraudcal_airflow.db.sql import MONDRIAN_PARTS, log_statement, mondrian_column
from fraudcal_airflow.errors import InputError, UnsafeNameError

if TYPE_CHECKING:
    import psycopg
    import psycopg2.extensions

    from fraudcal_airflow.outcomes import LabeledOutcomes

log = logging.getLogger(__name__)


def safe_versions(versions: Sequence[str], model_type: str, source: str) -> list[str]:
    """The versions that are safe names (:data:`fraudcal.names.SAFE_NAME_PATTERN`), in order.

    A version read from the log becomes part of Redis keys, file names and mail subjects, so
    one that breaks the rule (``v1:previous``, ``a/b``, a CR/LF) is skipped, each with a
    warning naming it and the rule, instead of failing the run: the log belongs to another
    application, and one bad name must not let every other version's live set expire or cost
    them their reports. A version asked for by name is checked by the Params (and
    :func:`resolve_versions`) and refused.
    """
    kept = []
    for version in versions:
        try:
            kept.append(check_name("model_version", version, UnsafeNameError))
        except UnsafeNameError as error:
            log.warning(
                "Skipped a model version of %r in source %r: %s. Nothing is calibrated, filled, monitored or "
                "reported for it until it is renamed in the prediction log.",
                model_type,
                source,
                error,
            )
    return kept


def known_versions(conn: psycopg.Connection, source: str, model_type: str) -> list[str]:
    """Return every model version of ``model_type`` that has logged a prediction.

    Versions that are not safe names are left out, with a warning (:func:`safe_versions`).
    """
    with conn.cursor() as cur:
        cur.execute(log_statement("prediction_log/known_versions", source), {"model_type": model_type})
        versions = [row[0] for row in cur.fetchall()]
    conn.commit()
    return safe_versions(versions, model_type, source)


def versions_with_outcomes(
    conn: psycopg.Connection, source: str, model_type: str, window_start: datetime, window_end: datetime
) -> list[str]:
    """Return the model versions with at least one labeled outcome in ``[window_start, window_end)``.

    Versions that are not safe names are left out, with a warning (:func:`safe_versions`).
    """
    with conn.cursor() as cur:
        cur.execute(
            log_statement("prediction_log/versions_with_outcomes", source),
            {"model_type": model_type, "window_start": window_start, "window_end": window_end},
        )
        versions = [row[0] for row in cur.fetchall()]
    conn.commit()
    return safe_versions(versions, model_type, source)


def resolve_versions(
    requested: Sequence[str], known: Sequence[str], model_type: str, source: str, error: type[InputError] = InputError
) -> list[str]:
    """Check requested versions against the known ones; return them sorted, de-duplicated.

    Raises
    ------
    InputError
        (or the given subclass) naming a version that is not a safe name and the rule, or
        every unknown version and listing the known ones.
    """
    for version in requested:
        check_name("model_version", version, error)
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
    """The labeled predictions of ``period``, each with the numbers of the sets in force.

    One binary COPY. For each method, the set in force for a prediction is the newest set of
    that method with ``as_of <= predicted_at``; the methods' sets are found independently.

    Returns
    -------
    dict of str to ndarray
        ``id``, ``predicted_at``, ``probability``, ``label`` (bool), ``high_risk`` (bool); one
        ``q<level>`` per level (:func:`quantile_column`): the quantile of the residual set in
        force; and per level the Mondrian set's ``mondrian_q0_<level>``,
        ``mondrian_q1_<level>`` (the class quantiles) and ``mondrian_n1_<level>`` (the frauds
        of its window) (:func:`fraudcal_airflow.db.sql.mondrian_column`). NaN where no set of
        the method was in force.
    """
    columns = [
        ("id", "int8"),
        ("predicted_at", "timestamptz"),
        ("probability", "float8"),
        ("label", "bool"),
        ("high_risk", "bool"),
        *[(quantile_column(level), "float8") for level in levels],
        *[(mondrian_column(part, level), "float8") for level in levels for part, _, _ in MONDRIAN_PARTS],
    ]
    statement = log_statement("prediction_log/labeled_predictions_in_force", period.source, levels)
    params = {**period.params(), "method": RESIDUAL_METHOD, "mondrian_method": MONDRIAN_METHOD}
    return _copy(copy_conn, statement, params, columns)


def mondrian_in_force(rows: dict[str, np.ndarray], levels: Sequence[int]) -> tuple[dict, dict]:
    """The Mondrian columns of :func:`labeled_predictions_in_force` rows, as the core takes them.

    Returns ``({level: (q0, q1)}, {level: n1})``; a level whose columns are absent (rows built
    without them) is left out, which the core reads as "no Mondrian set in force".
    """
    quantiles, frauds = {}, {}
    for level in levels:
        q_zero, q_one, n_one = (mondrian_column(part, level) for part in ("q0", "q1", "n1"))
        if q_zero in rows and q_one in rows and n_one in rows:
            quantiles[level] = (rows[q_zero], rows[q_one])
            frauds[level] = rows[n_one]
    return quantiles, frauds


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


#: The columns of :func:`replay_predictions`, in SELECT order.
REPLAY_COLUMNS = [
    ("predicted_at", "timestamptz"),
    ("probability", "float8"),
    ("labeled", "bool"),
    ("label", "int2"),
    ("high_risk", "bool"),
    ("has_risk_level", "bool"),
]


def replay_predictions(copy_conn: psycopg2.extensions.connection, period: VersionPeriod) -> dict[str, np.ndarray]:
    """Every prediction of ``period``, labeled or not, for the replay of the methods: one binary COPY.

    Returns
    -------
    dict of str to ndarray
        The :data:`REPLAY_COLUMNS`: ``predicted_at`` (datetime64[us], UTC), ``probability``
        (NaN for NULL), ``labeled`` (bool), ``label`` (int16, the log's value; 0 where not
        labeled), ``high_risk`` (HIGH or CRITICAL) and ``has_risk_level`` (bool).
    """
    statement = log_statement("prediction_log/replay_predictions", period.source)
    return _copy(copy_conn, statement, period.params(), REPLAY_COLUMNS)
