-- Bulk-load synthetic predictions (CSV on STDIN) into the fraud prediction log.
COPY noc_fraud_prediction_log (
    person_id, site_id, model_type, model_version, predicted_at,
    fraud_probability, risk_level, actual_fraud_detected
) FROM STDIN (FORMAT csv)
