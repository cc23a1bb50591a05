-- Benchmark limit: only (probability, label) of one version's window, as binary COPY.
-- The same rows as prediction_log/labeled_outcomes, without id and predicted_at.
COPY (
    SELECT fraud_probability, actual_fraud_detected
      FROM noc_fraud_prediction_log
     WHERE {labeled_window}
) TO STDOUT (FORMAT binary)
