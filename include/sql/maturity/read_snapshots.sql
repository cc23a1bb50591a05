-- The label snapshots of a model type (all versions when model_versions is NULL) recorded for
-- snapshot days up to until_day: what a run with that snapshot day may know, never its future.
SELECT model_version, prediction_day, snapshot_day, n_predictions, n_labeled, n_fraud
  FROM fraudcal.label_snapshots
 WHERE model_type = %(model_type)s
   AND (%(model_versions)s::text[] IS NULL OR model_version = ANY(%(model_versions)s::text[]))
   AND snapshot_day <= %(until_day)s::date
 ORDER BY model_version, snapshot_day, prediction_day
