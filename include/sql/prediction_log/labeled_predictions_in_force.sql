-- The labeled predictions of one model version in [time_from, time_to), each with the
-- quantiles of the calibration set in force when it was made (newest set with
-- as_of <= predicted_at, found by binary search as in intervals/apply_chunk), as binary COPY:
-- (id, predicted_at, probability, label, high_risk, then one q<level> per supported level).
-- {quantile_arrays} and {quantile_columns} are composed from fraudcal.defaults.SUPPORTED_LEVELS.
-- Rows whose risk level is NULL are left out ({has_risk_level}; TRUE for a log without risk levels).
-- A missing quantile (no set in force yet, or level not in the set) is sent as NaN, and so is
-- a NULL probability, so that every row is fixed-width and none is silently dropped.
COPY (
    -- MATERIALIZED: computed once. Inlined, a planner without statistics (a freshly loaded
    -- table) ran the aggregate once per row: 5 s instead of 0.1 s for 120k rows.
    WITH sets AS MATERIALIZED (
        SELECT array_agg(as_of ORDER BY as_of) AS as_ofs,
               {quantile_arrays}
          FROM fraudcal.current_calibration_sets
         WHERE model_type = %(model_type)s AND model_version = %(model_version)s AND method = %(method)s
    )
    SELECT p.id,
           p.predicted_at,
           COALESCE(p.{probability}, 'NaN'::double precision),
           {is_fraud},
           {is_high_risk},
           {quantile_columns}
      FROM {log} AS p
     CROSS JOIN sets AS s
     CROSS JOIN LATERAL (SELECT COALESCE(width_bucket(p.predicted_at, s.as_ofs), 0) AS position) AS b
     WHERE p.model_type = %(model_type)s
       AND p.model_version = %(model_version)s
       AND p.predicted_at >= %(time_from)s
       AND p.predicted_at <  %(time_to)s
       AND p.{label} IS NOT NULL
       AND {has_risk_level}
) TO STDOUT (FORMAT binary)
