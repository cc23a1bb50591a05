-- How many rows a backfill will consider, and the id range they span. Chunks are id ranges of
-- chunk_size ids cut from [min, max]: a chunk never holds more than chunk_size rows, and rows
-- inserted after planning get larger ids and are left for the next run. One aggregate instead
-- of numbering every row (row_number over 1M rows cost a second of every backfill).
-- {log} is composed as an identifier from a fixed mapping; values are bound.
SELECT count(*), min(id), max(id)
  FROM {log}
 WHERE model_type = %(model_type)s
   AND model_version = ANY(%(model_versions)s)
   AND predicted_at >= %(time_from)s
   AND predicted_at <  %(time_to)s
   AND (%(overwrite)s OR prediction_lower_bound IS NULL)
