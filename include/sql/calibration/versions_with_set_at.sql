-- The versions that have a calibration set with exactly this as_of: the daily repair only
-- fills a day whose own set (computed by the previous day's run) already exists, so that it
-- never fills rows from an older set just because the right one is not computed yet.
SELECT model_version
  FROM fraudcal.current_calibration_sets
 WHERE model_type = %(model_type)s
   AND model_version = ANY(%(model_versions)s)
   AND method = %(method)s
   AND as_of = %(as_of)s
 ORDER BY model_version
