-- Record one calibration set. Idempotent: a re-run of the same (model, method, as_of) updates
-- the row in place, and leaves it untouched (computed_at and run_id included) when the
-- numbers are the same, so that the Redis payload built from it is byte-identical.
INSERT INTO fraudcal.calibration_sets AS cs (
    model_type, model_version, method, as_of, window_start, window_end, n, n_positive,
    levels, narrow_threshold, calibration_score, ece, brier, mean_prediction,
    std_prediction, mean_actual, source, validation, dag_id, run_id
) VALUES (
    %(model_type)s, %(model_version)s, %(method)s, %(as_of)s, %(window_start)s,
    %(window_end)s, %(n)s, %(n_positive)s, %(levels)s, %(narrow_threshold)s,
    %(calibration_score)s, %(ece)s, %(brier)s, %(mean_prediction)s, %(std_prediction)s,
    %(mean_actual)s, %(source)s, %(validation)s, %(dag_id)s, %(run_id)s
)
ON CONFLICT (model_type, model_version, method, as_of) DO UPDATE
   SET window_start = EXCLUDED.window_start,
       n = EXCLUDED.n,
       n_positive = EXCLUDED.n_positive,
       levels = EXCLUDED.levels,
       narrow_threshold = EXCLUDED.narrow_threshold,
       calibration_score = EXCLUDED.calibration_score,
       ece = EXCLUDED.ece,
       brier = EXCLUDED.brier,
       mean_prediction = EXCLUDED.mean_prediction,
       std_prediction = EXCLUDED.std_prediction,
       mean_actual = EXCLUDED.mean_actual,
       source = EXCLUDED.source,
       validation = EXCLUDED.validation,
       dag_id = EXCLUDED.dag_id,
       run_id = EXCLUDED.run_id,
       computed_at = now()
 WHERE (cs.window_start, cs.n, cs.n_positive, cs.levels, cs.narrow_threshold,
        cs.calibration_score, cs.ece, cs.brier, cs.source)
       IS DISTINCT FROM
       (EXCLUDED.window_start, EXCLUDED.n, EXCLUDED.n_positive, EXCLUDED.levels,
        EXCLUDED.narrow_threshold, EXCLUDED.calibration_score, EXCLUDED.ece, EXCLUDED.brier,
        EXCLUDED.source)
RETURNING *
