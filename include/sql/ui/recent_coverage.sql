-- The last days' coverage at the 90-percent level (all and fraud) of one version, newest first.
SELECT day, coverage_90, coverage_fraud_90, with_set
  FROM fraudcal.model_health_daily
 WHERE model_type = %(model_type)s AND model_version = %(model_version)s
 ORDER BY day DESC
 LIMIT 7
