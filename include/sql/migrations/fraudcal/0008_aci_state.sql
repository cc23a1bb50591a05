-- fraudcal-owned schema, migration 0008: the state of per-class adaptive conformal inference
-- (method mondrian_aci, fraudcal.aci).
--
-- One current row per (model_type, model_version, level, as_of): the AciState.to_dict() a
-- calibration run with that as_of reached (state), after applying the matured prediction days
-- listed in applied ([{"day", "misses": {"0", "1"}, "counts": {"0", "1"}}, ...]) to the newest
-- state with an earlier as_of. Its mondrian_aci set (calibration_set_id) holds the quantiles at
-- those levels. Rows are never rewritten: a re-run with other numbers (late labels, another
-- gamma) supersedes the current row, which stays with superseded_at, as for calibration sets
-- (migration 0004); a re-run over unchanged data writes nothing.
CREATE TABLE IF NOT EXISTS fraudcal.aci_state (
    id                   bigserial PRIMARY KEY,
    model_type           text        NOT NULL,
    model_version        text        NOT NULL,
    level                text        NOT NULL,   -- coverage level (percent), as the levels jsonb keys it: '90'
    as_of                timestamptz NOT NULL,
    state                jsonb       NOT NULL,   -- fraudcal.aci.AciState.to_dict()
    gamma                double precision NOT NULL CHECK (gamma > 0 AND gamma <= 1),
    updated_through      date,                   -- newest prediction day applied; NULL before any
    updates              integer     NOT NULL CHECK (updates >= 0),
    legitimate_alpha     double precision NOT NULL CHECK (legitimate_alpha BETWEEN 0 AND 1),  -- class 0
    fraud_alpha          double precision NOT NULL CHECK (fraud_alpha BETWEEN 0 AND 1),       -- class 1
    legitimate_saturated boolean     NOT NULL,   -- the clip bound at the class's latest update
    fraud_saturated      boolean     NOT NULL,
    applied              jsonb       NOT NULL DEFAULT '[]'::jsonb,
    label_maturity_days  integer     NOT NULL CHECK (label_maturity_days BETWEEN 0 AND 365),
    source               text        NOT NULL,
    calibration_set_id   bigint,                 -- the mondrian_aci set at these levels
    dag_id               text,
    run_id               text,
    created_at           timestamptz NOT NULL DEFAULT now(),
    superseded_at        timestamptz
);
CREATE UNIQUE INDEX IF NOT EXISTS aci_state_current_key
    ON fraudcal.aci_state (model_type, model_version, level, as_of)
 WHERE superseded_at IS NULL;
CREATE OR REPLACE VIEW fraudcal.current_aci_state AS
    SELECT * FROM fraudcal.aci_state WHERE superseded_at IS NULL;
