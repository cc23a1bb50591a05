-- Empty both prediction logs (dev and tests only) and restart their ids.
TRUNCATE noc_fraud_prediction_log, ml_prediction_log RESTART IDENTITY
