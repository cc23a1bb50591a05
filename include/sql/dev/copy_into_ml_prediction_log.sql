-- Bulk-load synthetic predictions (CSV on STDIN) into the generic prediction log.
COPY ml_prediction_log (model_type, model_version, predicted_at, prediction, actual_outcome)
FROM STDIN (FORMAT csv)
