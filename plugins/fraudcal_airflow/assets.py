"""Assets fraudcal DAGs produce and consume (data-aware scheduling between DAGs)."""

from __future__ import annotations

from airflow.sdk import Asset

#: Emitted each time a calibration set is recorded in ``fraudcal.calibration_sets``;
#: ``report_coverage`` is scheduled on it. The event's extra names the model version,
#: ``as_of``, the set's id and whether it went live in Redis.
CALIBRATION_SETS = Asset(name="fraudcal_calibration_sets", uri="fraudcal://calibration_sets", group="fraudcal")

#: Emitted by ``backfill_prediction_intervals`` when it has written intervals onto historical
#: predictions; the extra carries the request, rows written and the verification summary.
PREDICTION_INTERVALS = Asset(
    name="fraudcal_prediction_intervals", uri="fraudcal://prediction_intervals", group="fraudcal"
)

#: Emitted by ``report_drift`` on the day a model version alerts; a retraining DAG can be
#: scheduled on it. The extra names the model type, the day and, per alerting version, the
#: rules that fired and their values.
RETRAINING_REQUESTED = Asset(
    name="fraud_model_retraining_requested", uri="fraudcal://retraining_requested", group="fraudcal"
)
