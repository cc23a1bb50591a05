-- The triage rows of one model version in force for some prediction made in
-- [time_from, time_to): the newest in-force row with as_of <= time_from and every later one
-- with as_of < time_to, oldest first (the coverage report judges each day's tickets against
-- the thresholds that were in force that day).
SELECT as_of, ticket, clear, confidence, status
  FROM fraudcal.triage_in_force
 WHERE model_type = %(model_type)s AND model_version = %(model_version)s
   AND as_of < %(time_to)s
   AND as_of >= COALESCE(
           (SELECT max(as_of)
              FROM fraudcal.triage_in_force
             WHERE model_type = %(model_type)s AND model_version = %(model_version)s
               AND as_of <= %(time_from)s),
           '-infinity'::timestamptz)
 ORDER BY as_of
