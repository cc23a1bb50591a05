-- Benchmark limit: only (probability, label) of one version's window, as binary COPY.
-- The same rows as calibration/labeled_outcomes__fraud_log, without id and predicted_at.
COPY (
    SELECT fraud_probability, actual_fraud_detected
      FROM noc_fraud_prediction_log
     WHERE model_type = %(model_type)s
       AND model_version = %(model_version)s
       AND predicted_at >= %(window_start)s
       AND predicted_at <  %(window_end)s
       AND actual_fraud_detected IS NOT NULL
) TO STDOUT (FORMAT binary)
