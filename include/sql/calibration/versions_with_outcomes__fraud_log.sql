-- Model versions of one model type with at least one labeled outcome in the window (noc_fraud_prediction_log).
SELECT DISTINCT model_version
  FROM noc_fraud_prediction_log
 WHERE model_type = %(model_type)s
   AND predicted_at >= %(window_start)s
   AND predicted_at <  %(window_end)s
   AND actual_fraud_detected IS NOT NULL
 ORDER BY model_version
