-- Model versions of one model type with at least one labeled outcome in [window_start, window_end).
SELECT DISTINCT model_version
  FROM {log} AS p
 WHERE model_type = %(model_type)s
   AND predicted_at >= %(window_start)s
   AND predicted_at <  %(window_end)s
   AND p.{label} IS NOT NULL
 ORDER BY model_version
