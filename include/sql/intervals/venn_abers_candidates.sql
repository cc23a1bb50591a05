-- The rows of one id-range chunk a Venn-Abers backfill may fill: their probability, version and
-- time, for Python to compute [p0, p1] from the Venn-Abers set in force (step functions, not a
-- quantile: see fraudcal.venn_abers). Same filters as apply_chunk; nothing is locked here.
SELECT p.id, p.model_version, p.predicted_at, p.{probability}
  FROM {log} AS p
 WHERE p.id >= %(id_from)s AND p.id < %(id_to)s
   AND p.model_type = %(model_type)s
   AND p.model_version = ANY(%(model_versions)s)
   AND p.predicted_at >= %(time_from)s
   AND p.predicted_at <  %(time_to)s
   AND (%(overwrite)s OR p.prediction_lower_bound IS NULL)
   AND p.{probability} BETWEEN 0 AND 1
 ORDER BY p.id
