-- Rows in the benchmark window (to report rows/s).
SELECT count(*) FROM noc_fraud_prediction_log
 WHERE model_type = %(model_type)s AND model_version = %(model_version)s
   AND predicted_at >= %(window_start)s AND predicted_at < %(window_end)s
   AND actual_fraud_detected IS NOT NULL
