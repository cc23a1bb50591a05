-- Every prediction's probability (labeled or not) of one version in [time_from, time_to), as
-- binary COPY of one float8 column; NULL is sent as NaN and dropped by the caller with a count.
COPY (
    SELECT COALESCE(p.{probability}, 'NaN'::double precision)
      FROM {log} AS p
     WHERE p.model_type = %(model_type)s
       AND p.model_version = %(model_version)s
       AND p.predicted_at >= %(time_from)s
       AND p.predicted_at <  %(time_to)s
) TO STDOUT (FORMAT binary)
