"""The prediction logs fraudcal reads, in one registry (DESIGN.md section 3.1).

Each source names its table and the columns fraudcal needs. SQL files refer to them by
placeholder (``{log}``, ``{probability}``, ``{label}``, ``{is_fraud}``, ``{is_high_risk}``), and
:func:`fraudcal_airflow.db.sql.log_statement` composes them as identifiers from this registry,
never from user input. A log with other table or column names is one more entry here (or a
view with these names).
"""

from __future__ import annotations

from dataclasses import dataclass

from fraudcal_airflow.errors import InputError


@dataclass(frozen=True)
class PredictionLog:
    """One prediction log: where the scores, labels and interval columns live.

    Attributes
    ----------
    source : str
        The name Params use (``fraud_log``, ``prediction_log``).
    table : str
        The table.
    probability : str
        The predicted fraud probability column (double precision).
    label : str
        The label column, NULL until an investigator decides.
    label_type : str
        The label's PostgreSQL type as binary COPY sends it: ``bool`` or ``int2`` (0/1).
    risk_level : str or None
        The LOW/MEDIUM/HIGH/CRITICAL column, or None for a log without risk levels (then no
        prediction is HIGH/CRITICAL and nothing is ever auto-ticketed).
    """

    source: str
    table: str
    probability: str
    label: str
    label_type: str
    risk_level: str | None


#: Every prediction log fraudcal can read, by source name.
PREDICTION_LOGS = {
    log.source: log
    for log in (
        PredictionLog(
            source="fraud_log",
            table="noc_fraud_prediction_log",
            probability="fraud_probability",
            label="actual_fraud_detected",
            label_type="bool",
            risk_level="risk_level",
        ),
        PredictionLog(
            source="prediction_log",
            table="ml_prediction_log",
            probability="prediction",
            label="actual_outcome",
            label_type="int2",
            risk_level=None,
        ),
    )
}
#: Source names of the database logs, in the order the trigger form lists them.
DB_SOURCES = tuple(PREDICTION_LOGS)
#: A calibration can also read labeled outcomes from a CSV file in the import folder.
CSV_SOURCE = "csv"
SOURCES = (*DB_SOURCES, CSV_SOURCE)


def prediction_log(source: str) -> PredictionLog:
    """Return the registry entry of ``source``.

    Raises
    ------
    InputError
        If ``source`` is not a database log (naming the known ones).
    """
    try:
        return PREDICTION_LOGS[source]
    except KeyError:
        raise InputError(f"source {source!r} is not a prediction log; expected one of {list(DB_SOURCES)}") from None
