-- Fill the four interval columns of one id-range chunk, each row from the calibration set in
-- force when it was predicted: the newest set with as_of <= predicted_at for its model version
-- (DESIGN.md section 4; that set's window ends at as_of, so it never contains the row).
-- The as-of lookup is a binary search: the sets of each version become sorted arrays, and
-- width_bucket(predicted_at, as_ofs) is the position of the newest as_of <= predicted_at
-- (0 when there is none). Measured faster than a per-row LATERAL ... ORDER BY as_of DESC
-- LIMIT 1 and than a range join (make bench). One set-based statement; only the four
-- interval columns are written, and only where a value changes, so a re-run of a finished
-- backfill writes nothing. Rows that cannot be filled (no set before them, probability
-- NULL/NaN/outside [0, 1], level missing from the set) are left NULL.
-- MATERIALIZED: the per-version arrays are built once, whatever the planner estimates.
WITH sets AS MATERIALIZED (
    SELECT model_type, model_version,
           array_agg(as_of ORDER BY as_of) AS as_ofs,
           array_agg((levels -> %(level)s ->> 'quantile')::double precision ORDER BY as_of) AS quantiles,
           array_agg(calibration_score ORDER BY as_of) AS calibration_scores
      FROM fraudcal.calibration_sets
     WHERE model_type = %(model_type)s
       AND model_version = ANY(%(model_versions)s)
       AND method = %(method)s
     GROUP BY model_type, model_version
), target AS (
    SELECT p.id,
           GREATEST(0, p.{probability} - s.quantiles[b.position]) AS lower_bound,
           LEAST(1, p.{probability} + s.quantiles[b.position]) AS upper_bound,
           s.calibration_scores[b.position] AS calibration_score
      FROM {log} AS p
      JOIN sets AS s ON s.model_type = p.model_type AND s.model_version = p.model_version
     CROSS JOIN LATERAL (SELECT width_bucket(p.predicted_at, s.as_ofs) AS position) AS b
     WHERE p.id >= %(id_from)s AND p.id < %(id_to)s
       AND p.predicted_at >= %(time_from)s
       AND p.predicted_at <  %(time_to)s
       AND (%(overwrite)s OR p.prediction_lower_bound IS NULL)
       AND p.{probability} BETWEEN 0 AND 1
       AND b.position > 0
       AND s.quantiles[b.position] IS NOT NULL
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
