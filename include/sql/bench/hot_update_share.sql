-- Share of the copy's updates that were HOT (no index entry written).
SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables
 WHERE schemaname = 'bench_copy' AND relname = 'noc_fraud_prediction_log'
