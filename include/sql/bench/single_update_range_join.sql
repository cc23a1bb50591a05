-- Benchmark limit candidate: one UPDATE of every row to fill, each set in force from its as_of
-- until the next set's as_of (a range join). Same results as intervals/apply_chunk.
WITH in_force AS (
    SELECT model_type, model_version, as_of,
           coalesce(lead(as_of) OVER (PARTITION BY model_type, model_version ORDER BY as_of), 'infinity') AS until,
           (levels -> %(level)s ->> 'quantile')::double precision AS quantile, calibration_score
      FROM fraudcal.current_calibration_sets
     WHERE model_type = %(model_type)s AND model_version = ANY(%(model_versions)s) AND method = %(method)s
)
UPDATE noc_fraud_prediction_log AS p
   SET prediction_lower_bound = GREATEST(0, p.fraud_probability - s.quantile),
       prediction_upper_bound = LEAST(1, p.fraud_probability + s.quantile),
       confidence_interval_width = LEAST(1, p.fraud_probability + s.quantile) - GREATEST(0, p.fraud_probability - s.quantile),
       calibration_score = s.calibration_score
  FROM in_force AS s
 WHERE s.model_type = p.model_type AND s.model_version = p.model_version
   AND p.predicted_at >= s.as_of AND p.predicted_at < s.until
   AND p.predicted_at >= %(time_from)s AND p.predicted_at < %(time_to)s
   AND p.prediction_lower_bound IS NULL
   AND p.fraud_probability BETWEEN 0 AND 1
   AND s.quantile IS NOT NULL
