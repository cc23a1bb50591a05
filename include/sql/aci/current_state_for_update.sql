-- The current ACI state of one (model version, level, as_of), locked for this transaction, and
-- whether it differs from the given one (a re-run over unchanged data finds it equal and
-- writes nothing).
SELECT st.*,
       (st.state, st.applied, st.label_maturity_days, st.source, st.calibration_set_id)
       IS DISTINCT FROM
       (%(state)s::jsonb, %(applied)s::jsonb, %(label_maturity_days)s::integer, %(source)s::text,
        %(calibration_set_id)s::bigint) AS differs
  FROM fraudcal.aci_state AS st
 WHERE st.model_type = %(model_type)s
   AND st.model_version = %(model_version)s
   AND st.level = %(level)s
   AND st.as_of = %(as_of)s
   AND st.superseded_at IS NULL
   FOR UPDATE
