-- Record one calibration set as the current row of its (model, method, as_of). A row that
-- another run inserted meanwhile wins (DO NOTHING): the caller then reads it and compares.
INSERT INTO fraudcal.calibration_sets (
    model_type, model_version, method, as_of, window_start, window_end, n, n_positive,
    levels, narrow_threshold, calibration_score, ece, brier, mean_prediction,
    std_prediction, mean_actual, source, validation, label_maturity_days, dag_id, run_id
) VALUES (
    %(model_type)s, %(model_version)s, %(method)s, %(as_of)s, %(window_start)s,
    %(window_end)s, %(n)s, %(n_positive)s, %(levels)s, %(narrow_threshold)s,
    %(calibration_score)s, %(ece)s, %(brier)s, %(mean_prediction)s, %(std_prediction)s,
    %(mean_actual)s, %(source)s, %(validation)s, %(label_maturity_days)s, %(dag_id)s, %(run_id)s
)
ON CONFLICT (model_type, model_version, method, as_of) WHERE superseded_at IS NULL DO NOTHING
RETURNING *
