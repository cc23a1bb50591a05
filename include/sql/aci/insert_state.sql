-- Record one ACI state as the current row of its (model version, level, as_of). A row another
-- run inserted meanwhile wins (DO NOTHING): the caller then reads it and compares.
INSERT INTO fraudcal.aci_state (
    model_type, model_version, level, as_of, state, gamma, updated_through, updates,
    legitimate_alpha, fraud_alpha, legitimate_saturated, fraud_saturated, applied,
    label_maturity_days, source, calibration_set_id, dag_id, run_id
) VALUES (
    %(model_type)s, %(model_version)s, %(level)s, %(as_of)s, %(state)s, %(gamma)s,
    %(updated_through)s, %(updates)s, %(legitimate_alpha)s, %(fraud_alpha)s,
    %(legitimate_saturated)s, %(fraud_saturated)s, %(applied)s, %(label_maturity_days)s,
    %(source)s, %(calibration_set_id)s, %(dag_id)s, %(run_id)s
)
ON CONFLICT (model_type, model_version, level, as_of) WHERE superseded_at IS NULL DO NOTHING
RETURNING *
