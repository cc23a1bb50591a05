-- The newest calibration set of each version (for its age: a stale set is flagged).
SELECT model_version, max(as_of) AS as_of
  FROM fraudcal.current_calibration_sets
 WHERE model_type = %(model_type)s AND model_version = ANY(%(model_versions)s) AND method = %(method)s
 GROUP BY model_version
