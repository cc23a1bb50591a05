-- Every model version of one model type that has ever logged a prediction.
-- {log} is composed from the prediction-log registry (fraudcal_airflow.db.sources).
SELECT DISTINCT model_version
  FROM {log}
 WHERE model_type = %(model_type)s
 ORDER BY model_version
