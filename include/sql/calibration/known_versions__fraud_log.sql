-- Every model version of one model type that has ever logged a prediction (noc_fraud_prediction_log).
SELECT DISTINCT model_version
  FROM noc_fraud_prediction_log
 WHERE model_type = %(model_type)s
 ORDER BY model_version
