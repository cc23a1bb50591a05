-- First id of each chunk of the rows a backfill will fill, and nothing else: ids are numbered
-- in order and every chunk_size-th one starts a chunk. {log} / {probability} are composed as
-- identifiers from a fixed mapping (fraud_log or prediction_log); values are bound.
SELECT id
  FROM (SELECT id, row_number() OVER (ORDER BY id) AS position
          FROM {log}
         WHERE model_type = %(model_type)s
           AND model_version = ANY(%(model_versions)s)
           AND predicted_at >= %(time_from)s
           AND predicted_at <  %(time_to)s
           AND (%(overwrite)s OR prediction_lower_bound IS NULL)) AS numbered
 WHERE (position - 1) %% %(chunk_size)s = 0
 ORDER BY id
