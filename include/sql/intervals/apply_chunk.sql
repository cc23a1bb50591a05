-- Fill the four interval columns of one id-range chunk (one pass: one transaction), each row
-- from the calibration set in force when it was predicted: the newest set with
-- as_of <= predicted_at for its model version (DESIGN.md section 4; that set's window ends at
-- as_of, so it never contains the row).
-- The as-of lookup is a binary search: the sets of each version become sorted arrays, and
-- width_bucket(predicted_at, as_ofs) is the position of the newest as_of <= predicted_at
-- (0 when there is none). Measured faster than a per-row LATERAL ... ORDER BY as_of DESC
-- LIMIT 1 and than a range join (make bench). Only the four interval columns are written, and
-- only where a value changes, so a re-run of a finished backfill writes and locks nothing.
-- Rows that cannot be filled (no set before them, probability NULL/NaN/outside [0, 1], level
-- missing from the set) are left NULL.
--
-- Never waits for a writer, so it can never deadlock one: the rows to write are locked in id
-- order with FOR NO KEY UPDATE SKIP LOCKED (the lock the UPDATE takes anyway; it does not
-- block foreign-key checks), so a row another transaction holds is skipped, not waited for,
-- and the UPDATE only touches rows this statement already holds. The only locks it can wait
-- for are the tables' own, taken before it holds any row. A row changed since the snapshot is
-- locked in its newest version, the conditions are checked again on that version and the
-- values computed from it (or it is left, if it no longer needs a write).
-- Returns the rows that needed a write (as of the snapshot) and the rows written: the
-- difference was skipped, and the caller makes another pass over the chunk.
-- The WHERE of to_write repeats the locking subquery's: a locked subquery cannot be shared
-- through a CTE (FOR UPDATE cannot lock a WITH query's rows). Keep the two the same.
-- MATERIALIZED: the per-version arrays are built once, whatever the planner estimates.
WITH sets AS MATERIALIZED (
    SELECT model_type, model_version,
           array_agg(as_of ORDER BY as_of) AS as_ofs,
           array_agg((levels -> %(level)s ->> 'quantile')::double precision ORDER BY as_of) AS quantiles,
           array_agg(calibration_score ORDER BY as_of) AS calibration_scores
      FROM fraudcal.current_calibration_sets
     WHERE model_type = %(model_type)s
       AND model_version = ANY(%(model_versions)s)
       AND method = %(method)s
     GROUP BY model_type, model_version
), written AS (
    UPDATE {log} AS p
       SET prediction_lower_bound    = l.lower_bound,
           prediction_upper_bound    = l.upper_bound,
           confidence_interval_width = l.upper_bound - l.lower_bound,
           calibration_score         = l.calibration_score
      FROM (SELECT c.id, v.lower_bound, v.upper_bound, v.calibration_score
              FROM {log} AS c
              JOIN sets AS s ON s.model_type = c.model_type AND s.model_version = c.model_version
             CROSS JOIN LATERAL (SELECT width_bucket(c.predicted_at, s.as_ofs) AS position) AS b
             CROSS JOIN LATERAL (SELECT GREATEST(0, c.{probability} - s.quantiles[b.position]) AS lower_bound,
                                        LEAST(1, c.{probability} + s.quantiles[b.position]) AS upper_bound,
                                        s.calibration_scores[b.position] AS calibration_score) AS v
             WHERE c.id >= %(id_from)s AND c.id < %(id_to)s
               AND c.predicted_at >= %(time_from)s
               AND c.predicted_at <  %(time_to)s
               AND (%(overwrite)s OR c.prediction_lower_bound IS NULL)
               AND c.{probability} BETWEEN 0 AND 1
               AND b.position > 0
               AND s.quantiles[b.position] IS NOT NULL
               AND (c.prediction_lower_bound, c.prediction_upper_bound, c.confidence_interval_width, c.calibration_score)
                   IS DISTINCT FROM (v.lower_bound, v.upper_bound, v.upper_bound - v.lower_bound, v.calibration_score)
             ORDER BY c.id
               FOR NO KEY UPDATE OF c SKIP LOCKED) AS l
     WHERE p.id = l.id
       -- repeated so that the planner walks the primary key over the chunk
       AND p.id >= %(id_from)s AND p.id < %(id_to)s
    RETURNING p.id
)
-- to_write first: its scan reads the pages before the UPDATE has written into them
SELECT (SELECT count(*)
              FROM {log} AS c
              JOIN sets AS s ON s.model_type = c.model_type AND s.model_version = c.model_version
             CROSS JOIN LATERAL (SELECT width_bucket(c.predicted_at, s.as_ofs) AS position) AS b
             CROSS JOIN LATERAL (SELECT GREATEST(0, c.{probability} - s.quantiles[b.position]) AS lower_bound,
                                        LEAST(1, c.{probability} + s.quantiles[b.position]) AS upper_bound,
                                        s.calibration_scores[b.position] AS calibration_score) AS v
             WHERE c.id >= %(id_from)s AND c.id < %(id_to)s
               AND c.predicted_at >= %(time_from)s
               AND c.predicted_at <  %(time_to)s
               AND (%(overwrite)s OR c.prediction_lower_bound IS NULL)
               AND c.{probability} BETWEEN 0 AND 1
               AND b.position > 0
               AND s.quantiles[b.position] IS NOT NULL
               AND (c.prediction_lower_bound, c.prediction_upper_bound, c.confidence_interval_width, c.calibration_score)
                   IS DISTINCT FROM (v.lower_bound, v.upper_bound, v.upper_bound - v.lower_bound, v.calibration_score)
       ) AS to_write,
       (SELECT count(*) FROM written) AS written
