-- A random sample of filled rows of the backfill's range, to recompute in Python.
SELECT id, model_version, predicted_at, {probability} AS probability,
       prediction_lower_bound, prediction_upper_bound, confidence_interval_width, calibration_score
  FROM {log}
 WHERE model_type = %(model_type)s
   AND model_version = ANY(%(model_versions)s)
   AND predicted_at >= %(time_from)s
   AND predicted_at <  %(time_to)s
   AND prediction_lower_bound IS NOT NULL
 ORDER BY random()
 LIMIT %(sample_size)s
