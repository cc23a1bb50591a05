"""PostgreSQL: the SQL files, the prediction-log registry, and every read and write.

``sql``
    :func:`~fraudcal_airflow.db.sql.load_sql` reads ``include/sql/<name>.sql``;
    :func:`~fraudcal_airflow.db.sql.log_statement` composes a statement for one source table.
``sources``
    The prediction logs fraudcal reads (``fraud_log``, ``prediction_log``): table and column
    names, in one registry.
``pgcopy``
    Binary COPY straight into numpy (the fast extraction path).
``migrations``
    fraudcal's numbered schema migrations.
``prediction_log``
    Reads of the application's log: model versions, labeled outcomes, report rows, scores.
``intervals``
    Writes to the application's log: the backfill of the four interval columns.
``calibration_sets``, ``report_runs``, ``model_health``
    The tables fraudcal owns (schema ``fraudcal``).
``maturity``, ``aci``
    The label snapshots (``fraudcal.label_snapshots``, what ``label_maturity_days = "auto"``
    reads) and the per-class ACI states of ``mondrian_aci`` (``fraudcal.aci_state``).
"""
