-- Benchmark limit candidate: one UPDATE of every row to fill, the as-of set found per row with
-- a LATERAL index lookup (newest as_of <= predicted_at). Same results as intervals/apply_chunk.
WITH target AS (
    SELECT p.id,
           GREATEST(0, p.fraud_probability - s.quantile) AS lower_bound,
           LEAST(1, p.fraud_probability + s.quantile) AS upper_bound,
           s.calibration_score
      FROM noc_fraud_prediction_log AS p
     CROSS JOIN LATERAL (
           SELECT (cs.levels -> %(level)s ->> 'quantile')::double precision AS quantile, cs.calibration_score
             FROM fraudcal.current_calibration_sets AS cs
            WHERE cs.model_type = p.model_type AND cs.model_version = p.model_version
              AND cs.method = %(method)s AND cs.as_of <= p.predicted_at
            ORDER BY cs.as_of DESC
            LIMIT 1) AS s
     WHERE p.model_type = %(model_type)s AND p.model_version = ANY(%(model_versions)s)
       AND p.predicted_at >= %(time_from)s AND p.predicted_at < %(time_to)s
       AND p.prediction_lower_bound IS NULL
       AND p.fraud_probability BETWEEN 0 AND 1
       AND s.quantile IS NOT NULL
)
UPDATE noc_fraud_prediction_log AS p
   SET prediction_lower_bound = t.lower_bound, prediction_upper_bound = t.upper_bound,
       confidence_interval_width = t.upper_bound - t.lower_bound, calibration_score = t.calibration_score
  FROM target AS t
 WHERE p.id = t.id
