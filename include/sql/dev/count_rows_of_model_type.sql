-- How many predictions of one model type the fraud log holds (the demo loads a model type only once).
SELECT count(*) FROM noc_fraud_prediction_log WHERE model_type = %(model_type)s
