-- The stored health of one version on the days [day_from, day_to), oldest first.
SELECT *
  FROM fraudcal.model_health_daily
 WHERE model_type = %(model_type)s AND model_version = %(model_version)s
   AND day >= %(day_from)s AND day < %(day_to)s
 ORDER BY day
