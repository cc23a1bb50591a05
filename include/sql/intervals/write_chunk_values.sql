-- Write computed interval values (one array element per row) onto the log, one pass: only rows
-- whose values change, locked in id order with FOR NO KEY UPDATE SKIP LOCKED exactly as
-- apply_chunk does (never waits for a writer, never part of a deadlock). Returns the rows that
-- needed a write and the rows written; the difference was held by a writer (another pass).
WITH v AS (
    SELECT *
      FROM unnest(%(ids)s::bigint[], %(lower)s::double precision[], %(upper)s::double precision[],
                  %(scores)s::double precision[]) AS v(id, lower_bound, upper_bound, calibration_score)
), target AS MATERIALIZED (
    SELECT p.id, v.lower_bound, v.upper_bound, v.calibration_score
      FROM {log} AS p
      JOIN v ON v.id = p.id
     WHERE (%(overwrite)s OR p.prediction_lower_bound IS NULL)
       AND (p.prediction_lower_bound, p.prediction_upper_bound, p.confidence_interval_width, p.calibration_score)
           IS DISTINCT FROM (v.lower_bound, v.upper_bound, v.upper_bound - v.lower_bound, v.calibration_score)
), locked AS MATERIALIZED (
    SELECT p.id
      FROM {log} AS p
     WHERE p.id = ANY(ARRAY(SELECT id FROM target))
     ORDER BY p.id
       FOR NO KEY UPDATE OF p SKIP LOCKED
), written AS (
    UPDATE {log} AS p
       SET prediction_lower_bound    = t.lower_bound,
           prediction_upper_bound    = t.upper_bound,
           confidence_interval_width = t.upper_bound - t.lower_bound,
           calibration_score         = t.calibration_score
      FROM target AS t
     WHERE p.id = t.id
       AND p.id IN (SELECT id FROM locked)
    RETURNING 1
)
SELECT (SELECT count(*) FROM target) AS to_write, (SELECT count(*) FROM written) AS written
