-- Model versions of one model type with at least one labeled outcome in the window (ml_prediction_log).
SELECT DISTINCT model_version
  FROM ml_prediction_log
 WHERE model_type = %(model_type)s
   AND predicted_at >= %(window_start)s
   AND predicted_at <  %(window_end)s
   AND actual_outcome IS NOT NULL
 ORDER BY model_version
