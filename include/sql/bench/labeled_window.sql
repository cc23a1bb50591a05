-- Composed into the bench statements as {labeled_window}: the labeled outcomes of one version's
-- window in the fraud log, the same rows fraudcal's extraction reads (values bound).
model_type = %(model_type)s
       AND model_version = %(model_version)s
       AND predicted_at >= %(window_start)s
       AND predicted_at <  %(window_end)s
       AND actual_fraud_detected IS NOT NULL
