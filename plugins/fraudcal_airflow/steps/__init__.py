"""The steps of each DAG, as plain functions of explicit arguments.

One module per DAG: ``calibrate`` (``calibrate_fraud_model``), ``backfill``
(``backfill_prediction_intervals``), ``coverage_report`` (``report_coverage``),
``drift_report`` (``report_drift``). A DAG file only wires them into tasks: each task reads
its run (:func:`fraudcal_airflow.runtime.current_run`), turns the Params into the step's
request, and calls one step. A step takes what it needs as arguments (never Airflow's
context), so it can be read, called and tested alone, and returns a small frozen dataclass
whose ``as_dict()`` (JSON: ids, paths, counts) is the task's return value.

Bad input raises a subclass of :class:`fraudcal_airflow.errors.InputError`, which fails the
task at once, without retries.
"""
