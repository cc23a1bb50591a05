-- Labeled outcomes of one model version predicted in [window_start, window_end), streamed as
-- binary COPY with the columns (id, probability, label, predicted_at); the label keeps the
-- log's type (boolean or smallint), so that a smallint label other than 0/1 reaches
-- validation, which reports it.
-- A NULL probability is sent as NaN, so validation reports it instead of it being dropped.
COPY (
    SELECT p.id,
           COALESCE(p.{probability}, 'NaN'::double precision) AS probability,
           p.{label} AS label,
           p.predicted_at
      FROM {log} AS p
     WHERE p.model_type = %(model_type)s
       AND p.model_version = %(model_version)s
       AND p.predicted_at >= %(window_start)s
       AND p.predicted_at <  %(window_end)s
       AND p.{label} IS NOT NULL
) TO STDOUT (FORMAT binary)
