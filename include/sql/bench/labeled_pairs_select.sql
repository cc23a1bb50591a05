-- Benchmark candidate for pandas.read_sql: the same rows as a plain SELECT.
SELECT fraud_probability AS probability, actual_fraud_detected::int AS label
  FROM noc_fraud_prediction_log
 WHERE model_type = %(model_type)s
   AND model_version = %(model_version)s
   AND predicted_at >= %(window_start)s
   AND predicted_at <  %(window_end)s
   AND actual_fraud_detected IS NOT NULL
