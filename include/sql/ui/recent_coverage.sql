-- The last 7 stored days of one version's health, newest first (the page shows the coverage
-- columns of the default level: coverage_<level>, coverage_fraud_<level>).
SELECT *
  FROM fraudcal.model_health_daily
 WHERE model_type = %(model_type)s AND model_version = %(model_version)s
 ORDER BY day DESC
 LIMIT 7
