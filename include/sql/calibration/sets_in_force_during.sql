-- The current sets of one model version and method that were in force for some prediction
-- made in [time_from, time_to): the newest set with as_of <= time_from (in force at the
-- start) and every later set with as_of < time_to, oldest first. For the Venn-Abers sets of a
-- coverage report, whose step functions are read in Python (fraudcal.comparison).
SELECT as_of, levels
  FROM fraudcal.current_calibration_sets
 WHERE model_type = %(model_type)s AND model_version = %(model_version)s AND method = %(method)s
   AND as_of < %(time_to)s
   AND as_of >= COALESCE(
           (SELECT max(as_of)
              FROM fraudcal.current_calibration_sets
             WHERE model_type = %(model_type)s AND model_version = %(model_version)s
               AND method = %(method)s AND as_of <= %(time_from)s),
           '-infinity'::timestamptz)
 ORDER BY as_of
