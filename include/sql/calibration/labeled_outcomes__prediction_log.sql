-- Labeled outcomes of one model version predicted in [window_start, window_end), from ml_prediction_log,
-- streamed as binary COPY with the columns (id, probability, label smallint, predicted_at);
-- a label other than 0/1 is passed on for validation to report.
-- A NULL probability is sent as NaN, so validation reports it instead of it being dropped.
COPY (
    SELECT id,
           COALESCE(prediction, 'NaN'::double precision) AS probability,
           actual_outcome AS label,
           predicted_at
      FROM ml_prediction_log
     WHERE model_type = %(model_type)s
       AND model_version = %(model_version)s
       AND predicted_at >= %(window_start)s
       AND predicted_at <  %(window_end)s
       AND actual_outcome IS NOT NULL
) TO STDOUT (FORMAT binary)
