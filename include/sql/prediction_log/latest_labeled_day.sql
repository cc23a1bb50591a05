-- The last day (UTC) with a labeled prediction of the model type: the default report window
-- ends there (labels arrive late, so "the last 7 days" would be mostly unlabeled).
SELECT max(p.predicted_at)::date
  FROM {log} AS p
 WHERE p.model_type = %(model_type)s
   AND p.model_version = ANY(%(model_versions)s)
   AND p.{label} IS NOT NULL
