-- As vacuum_analyze_log, for the bench's fresh copy of the log.
VACUUM ANALYZE bench_copy.noc_fraud_prediction_log
