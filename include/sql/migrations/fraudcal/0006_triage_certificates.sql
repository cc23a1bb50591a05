-- fraudcal-owned schema, migration 0006: certified triage thresholds (fraudcal.triage).
-- One current row per (model_type, model_version, as_of): the auto-ticket and auto-clear
-- certificates of that calibration window (ThresholdCertificate.to_dict() in ticket / clear),
-- and whether they took force. Rows are never rewritten except for the decision columns: a
-- changed certificate (late labels, other Params) supersedes the current row, as for
-- calibration sets (migration 0004).
--   status in_force           took force when recorded (no jump, or nothing in force before)
--          pending_approval   certified, but it would automate more than jump_factor x the
--                             share of the thresholds in force: waits for an operator
--          approved           an operator approved it (decided_at, decided_by): in force since
--          rejected           an operator rejected it, or nobody answered in time
-- The thresholds in force for a version at time t are those of the newest current row with
-- as_of <= t whose status is in_force or approved (view fraudcal.triage_in_force).
CREATE TABLE IF NOT EXISTS fraudcal.triage_certificates (
    id                    bigserial PRIMARY KEY,
    model_type            text        NOT NULL,
    model_version         text        NOT NULL,
    as_of                 timestamptz NOT NULL,
    window_start          timestamptz NOT NULL,
    source                text        NOT NULL,
    n                     integer     NOT NULL CHECK (n >= 0),
    confidence            double precision NOT NULL CHECK (confidence > 0 AND confidence < 1),
    ticket                jsonb       NOT NULL,
    clear                 jsonb       NOT NULL,
    ticket_threshold      double precision,          -- NULL: not certified
    clear_threshold       double precision,          -- NULL: not certified
    ticket_share          double precision NOT NULL, -- share of the window the new ticket threshold automates
    clear_share           double precision NOT NULL,
    in_force_ticket_share double precision,          -- the same share under the thresholds in force before (NULL: none)
    in_force_clear_share  double precision,
    jump_factor           double precision NOT NULL CHECK (jump_factor >= 1),
    status                text        NOT NULL
                          CHECK (status IN ('in_force', 'pending_approval', 'approved', 'rejected')),
    reason                text        NOT NULL,
    dag_id                text,
    run_id                text,
    created_at            timestamptz NOT NULL DEFAULT now(),
    decided_at            timestamptz,
    decided_by            text,
    superseded_at         timestamptz
);
CREATE UNIQUE INDEX IF NOT EXISTS triage_certificates_current_key
    ON fraudcal.triage_certificates (model_type, model_version, as_of)
 WHERE superseded_at IS NULL;
CREATE OR REPLACE VIEW fraudcal.triage_in_force AS
    SELECT * FROM fraudcal.triage_certificates
     WHERE superseded_at IS NULL AND status IN ('in_force', 'approved');
