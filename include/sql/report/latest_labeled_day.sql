-- The last day (UTC) with a labeled prediction of the model type: the default report window
-- ends there (labels arrive late, so "the last 7 days" would be mostly unlabeled).
SELECT max(predicted_at)::date
  FROM noc_fraud_prediction_log
 WHERE model_type = %(model_type)s
   AND model_version = ANY(%(model_versions)s)
   AND actual_fraud_detected IS NOT NULL
