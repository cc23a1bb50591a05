-- Fill the four interval columns of one id-range chunk, each row from the calibration set in
-- force when it was predicted: the newest set with as_of <= predicted_at for its model version
-- (DESIGN.md section 4; that set's window ends at as_of, so it never contains the row).
-- One set-based statement; only the four interval columns are written, and only where a value
-- changes, so a re-run of a finished backfill writes nothing. Rows that cannot be filled (no
-- set before them, probability NULL/NaN/outside [0, 1], level missing) are left NULL.
WITH target AS (
    SELECT p.id,
           GREATEST(0, p.{probability} - s.quantile) AS lower_bound,
           LEAST(1, p.{probability} + s.quantile) AS upper_bound,
           s.calibration_score
      FROM {log} AS p
     CROSS JOIN LATERAL (
           SELECT (cs.levels -> %(level)s ->> 'quantile')::double precision AS quantile,
                  cs.calibration_score
             FROM fraudcal.calibration_sets AS cs
            WHERE cs.model_type = p.model_type
              AND cs.model_version = p.model_version
              AND cs.method = %(method)s
              AND cs.as_of <= p.predicted_at
            ORDER BY cs.as_of DESC
            LIMIT 1) AS s
     WHERE p.id >= %(id_from)s AND p.id < %(id_to)s
       AND p.model_type = %(model_type)s
       AND p.model_version = ANY(%(model_versions)s)
       AND p.predicted_at >= %(time_from)s
       AND p.predicted_at <  %(time_to)s
       AND (%(overwrite)s OR p.prediction_lower_bound IS NULL)
       AND p.{probability} BETWEEN 0 AND 1
       AND s.quantile IS NOT NULL
)
UPDATE {log} AS p
   SET prediction_lower_bound    = t.lower_bound,
       prediction_upper_bound    = t.upper_bound,
       confidence_interval_width = t.upper_bound - t.lower_bound,
       calibration_score         = t.calibration_score
  FROM target AS t
 WHERE p.id = t.id
   -- repeated so that the planner walks the primary key over the chunk on both sides
   AND p.id >= %(id_from)s AND p.id < %(id_to)s
   AND (p.prediction_lower_bound, p.prediction_upper_bound, p.confidence_interval_width, p.calibration_score)
       IS DISTINCT FROM (t.lower_bound, t.upper_bound, t.upper_bound - t.lower_bound, t.calibration_score)
