-- The labeled predictions of one model version in [time_from, time_to), each with the
-- numbers of the calibration sets in force when it was made, one set per method (for each
-- method the newest set of that method with as_of <= predicted_at, found by binary search as in
-- intervals/apply_chunk), as binary COPY: (id, predicted_at, probability, label, high_risk,
-- then one q<level> per supported level from the residual set, then per supported level the
-- Mondrian set's mondrian_q0_<level>, mondrian_q1_<level> and mondrian_n1_<level>).
-- {quantile_arrays}, {quantile_columns}, {mondrian_arrays} and {mondrian_columns} are composed
-- from fraudcal.defaults.SUPPORTED_LEVELS (db/sql.py::log_statement).
-- Rows whose risk level is NULL are left out ({has_risk_level}; TRUE for a log without risk levels).
-- A missing number (no set of the method in force yet, or level not in the set) is sent as NaN,
-- and so is a NULL probability, so that every row is fixed-width and none is silently dropped.
COPY (
    -- MATERIALIZED: computed once. Inlined, a planner without statistics (a freshly loaded
    -- table) ran the aggregate once per row: 5 s instead of 0.1 s for 120k rows.
    WITH sets AS MATERIALIZED (
        SELECT array_agg(as_of ORDER BY as_of) AS as_ofs,
               {quantile_arrays}
          FROM fraudcal.current_calibration_sets
         WHERE model_type = %(model_type)s AND model_version = %(model_version)s AND method = %(method)s
    ),
    mondrian_sets AS MATERIALIZED (
        SELECT array_agg(as_of ORDER BY as_of) AS as_ofs,
               {mondrian_arrays}
          FROM fraudcal.current_calibration_sets
         WHERE model_type = %(model_type)s AND model_version = %(model_version)s
           AND method = %(mondrian_method)s
    )
    SELECT p.id,
           p.predicted_at,
           COALESCE(p.{probability}, 'NaN'::double precision),
           {is_fraud},
           {is_high_risk},
           {quantile_columns},
           {mondrian_columns}
      FROM {log} AS p
     CROSS JOIN sets AS s
     CROSS JOIN mondrian_sets AS m
     CROSS JOIN LATERAL (SELECT COALESCE(width_bucket(p.predicted_at, s.as_ofs), 0) AS position) AS b
     CROSS JOIN LATERAL (SELECT COALESCE(width_bucket(p.predicted_at, m.as_ofs), 0) AS position) AS mb
     WHERE p.model_type = %(model_type)s
       AND p.model_version = %(model_version)s
       AND p.predicted_at >= %(time_from)s
       AND p.predicted_at <  %(time_to)s
       AND p.{label} IS NOT NULL
       AND {has_risk_level}
) TO STDOUT (FORMAT binary)
