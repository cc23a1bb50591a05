-- Rows of the backfill's range still without an interval, counted by the reason.
-- %(span_from)s, %(span_to)s: the id span the run planned ([0, 0) when it found nothing to
-- fill; NULL when unknown, as in the daily repair). A row outside it did not need filling when
-- the run was planned: it was inserted (or emptied) afterwards, and the next run fills it.
-- Inside the span, a row that could be filled but is not was held by a concurrent writer
-- through every pass of its chunk (or committed after its chunk ran); the next run fills it.
-- The set in force is looked up per row (newest as_of <= predicted_at), as the fill does.
SELECT CASE
         WHEN %(span_to)s::bigint IS NOT NULL
              AND NOT (p.id >= %(span_from)s::bigint AND p.id < %(span_to)s::bigint)
           THEN 'inserted after the backfill was planned: left for the next run'
         WHEN p.{probability} IS NULL OR NOT (p.{probability} BETWEEN 0 AND 1)
           THEN 'probability NULL, NaN or outside [0, 1]'
         WHEN f.as_of IS NULL
           THEN 'no calibration set before this prediction'
         WHEN f.quantile IS NULL
           THEN 'the set in force has no quantile for this coverage level'
         WHEN %(dry_run)s
           THEN 'dry run: would be filled'
         ELSE 'held by a concurrent writer through every pass (or committed after its chunk ran): left for the next run'
       END AS reason,
       count(*) AS rows
  FROM {log} AS p
  LEFT JOIN LATERAL (
        SELECT cs.as_of, cs.levels -> %(level)s ->> 'quantile' AS quantile
          FROM fraudcal.current_calibration_sets AS cs
         WHERE cs.model_type = p.model_type AND cs.model_version = p.model_version
           AND cs.method = %(method)s AND cs.as_of <= p.predicted_at
         ORDER BY cs.as_of DESC
         LIMIT 1) AS f ON true
 WHERE p.model_type = %(model_type)s
   AND p.model_version = ANY(%(model_versions)s)
   AND p.predicted_at >= %(time_from)s
   AND p.predicted_at <  %(time_to)s
   AND p.prediction_lower_bound IS NULL
 GROUP BY 1
 ORDER BY 1
