-- Labeled outcomes of one model version predicted in [window_start, window_end), from noc_fraud_prediction_log,
-- streamed as binary COPY with the columns (id, probability, label boolean, predicted_at).
-- A NULL probability is sent as NaN, so validation reports it instead of it being dropped.
COPY (
    SELECT id,
           COALESCE(fraud_probability, 'NaN'::double precision) AS probability,
           actual_fraud_detected AS label,
           predicted_at
      FROM noc_fraud_prediction_log
     WHERE model_type = %(model_type)s
       AND model_version = %(model_version)s
       AND predicted_at >= %(window_start)s
       AND predicted_at <  %(window_end)s
       AND actual_fraud_detected IS NOT NULL
) TO STDOUT (FORMAT binary)
