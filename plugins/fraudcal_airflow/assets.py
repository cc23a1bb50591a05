"""Assets fraudcal DAGs produce and consume (data-aware scheduling between DAGs)."""

from __future__ import annotations

from airflow.sdk import Asset

#: Emitted each time a calibration set is recorded in ``fraudcal.calibration_sets`` (before it
#: is published); ``report_coverage`` is scheduled on it. The event's extra names the set:
#: ``model_type``, ``model_version``, ``as_of`` and ``calibration_set_id``
#: (:attr:`fraudcal_airflow.steps.calibrate.RecordedSet.asset_extra`).
CALIBRATION_SETS = Asset(name="fraudcal_calibration_sets", uri="fraudcal://calibration_sets", group="fraudcal")

#: Emitted by ``backfill_prediction_intervals``' verify task (not in a dry run); the extra
#: carries ``model_type``, ``date_from``, ``date_to`` (inclusive), ``rows_written`` and the rows
#: left ``unfilled`` by reason (:attr:`fraudcal_airflow.steps.backfill.Verification.asset_extra`).
PREDICTION_INTERVALS = Asset(
    name="fraudcal_prediction_intervals", uri="fraudcal://prediction_intervals", group="fraudcal"
)

#: Emitted by ``report_drift`` on the day a model version alerts; a retraining DAG can be
#: scheduled on it. The extra names the model type, the day and, per alerting version, the
#: rules that fired and their values.
RETRAINING_REQUESTED = Asset(
    name="fraud_model_retraining_requested", uri="fraudcal://retraining_requested", group="fraudcal"
)
