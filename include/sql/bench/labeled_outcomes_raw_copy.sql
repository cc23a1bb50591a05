-- Benchmark reference: the four columns fraudcal extracts (what the GX suite validates),
-- with the same window filter, for a raw COPY without parsing.
COPY (
    SELECT id, fraud_probability, actual_fraud_detected, predicted_at
      FROM noc_fraud_prediction_log
     WHERE model_type = %(model_type)s
       AND model_version = %(model_version)s
       AND predicted_at >= %(window_start)s
       AND predicted_at <  %(window_end)s
       AND actual_fraud_detected IS NOT NULL
) TO STDOUT (FORMAT binary)
