-- The rows an ORM-style loop would read before updating them one by one (a sample).
SELECT id, model_version, predicted_at, fraud_probability
  FROM noc_fraud_prediction_log
 WHERE prediction_lower_bound IS NULL AND fraud_probability BETWEEN 0 AND 1
   AND predicted_at >= %(after)s
 ORDER BY id
 LIMIT %(limit)s
