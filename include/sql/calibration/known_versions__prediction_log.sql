-- Every model version of one model type that has ever logged a prediction (ml_prediction_log).
SELECT DISTINCT model_version
  FROM ml_prediction_log
 WHERE model_type = %(model_type)s
 ORDER BY model_version
