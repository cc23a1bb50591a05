-- Write one run's replayed rows (text COPY from the client, one row per (model version, day,
-- config, class)); the column order is fraudcal_airflow.db.replay_daily.COLUMNS. Runs after
-- replay/delete_run_rows in the same transaction.
COPY fraudcal.replay_daily (
    dag_id, run_id, model_type, model_version, day, config, method, options, class, level,
    window_days, label_maturity_days, n, covered, set_0, set_1, set_both, set_empty, high_risk,
    tickets, tickets_fraud, cleared, cleared_legit, review, quantile, window_n, alpha, saturated,
    too_few_frauds, ticket_threshold, clear_threshold, ece_raw, ece_p
) FROM STDIN
