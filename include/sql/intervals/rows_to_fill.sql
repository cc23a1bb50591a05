-- How many rows a backfill will consider, and the largest id among them (the end of the last
-- chunk: rows inserted after planning get larger ids and are left for the next run).
SELECT count(*), max(id)
  FROM {log}
 WHERE model_type = %(model_type)s
   AND model_version = ANY(%(model_versions)s)
   AND predicted_at >= %(time_from)s
   AND predicted_at <  %(time_to)s
   AND (%(overwrite)s OR prediction_lower_bound IS NULL)
