-- How many predictions the fraud log holds (demo data is loaded into an empty log only).
SELECT count(*) FROM noc_fraud_prediction_log
