-- The thresholds in force for a model version before the window ending at as_of: the newest
-- in-force row with an earlier as_of (a re-run of the same date compares against the same row).
SELECT *
  FROM fraudcal.triage_in_force
 WHERE model_type = %(model_type)s AND model_version = %(model_version)s AND as_of < %(as_of)s
 ORDER BY as_of DESC
 LIMIT 1
