-- Rows of the backfill's range still without an interval, counted by the reason.
SELECT CASE
         WHEN p.{probability} IS NULL OR NOT (p.{probability} BETWEEN 0 AND 1)
           THEN 'probability NULL, NaN or outside [0, 1]'
         WHEN NOT EXISTS (SELECT 1 FROM fraudcal.calibration_sets AS cs
                           WHERE cs.model_type = p.model_type AND cs.model_version = p.model_version
                             AND cs.method = %(method)s AND cs.as_of <= p.predicted_at)
           THEN 'no calibration set before this prediction'
         ELSE 'the set in force has no quantile for this coverage level'
       END AS reason,
       count(*) AS rows
  FROM {log} AS p
 WHERE p.model_type = %(model_type)s
   AND p.model_version = ANY(%(model_versions)s)
   AND p.predicted_at >= %(time_from)s
   AND p.predicted_at <  %(time_to)s
   AND p.prediction_lower_bound IS NULL
 GROUP BY 1
 ORDER BY 1
