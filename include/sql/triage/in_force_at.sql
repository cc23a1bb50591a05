-- The thresholds in force for a model version once the window ending at as_of is recorded:
-- the newest in-force row with as_of <= as_of (this window's own row when it took force).
SELECT *
  FROM fraudcal.triage_in_force
 WHERE model_type = %(model_type)s AND model_version = %(model_version)s AND as_of <= %(as_of)s
 ORDER BY as_of DESC
 LIMIT 1
