-- Per coverage level, the newest current ACI state of one model version with an as_of before
-- the given one: where a calibration run with that as_of starts its recursion (a re-run of the
-- same as_of starts from the same state, so it reaches the same levels).
SELECT DISTINCT ON (level) *
  FROM fraudcal.current_aci_state
 WHERE model_type = %(model_type)s
   AND model_version = %(model_version)s
   AND as_of < %(as_of)s
 ORDER BY level, as_of DESC
