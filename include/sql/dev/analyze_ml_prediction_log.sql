-- As analyze_prediction_logs, for the generic log.
ANALYZE ml_prediction_log
