-- Record the triage certificates of one calibration window as the current row of its key.
-- A row another run inserted meanwhile wins (DO NOTHING): the caller reads it and compares.
INSERT INTO fraudcal.triage_certificates (
    model_type, model_version, as_of, window_start, source, n, confidence, ticket, clear,
    ticket_threshold, clear_threshold, ticket_share, clear_share, in_force_ticket_share,
    in_force_clear_share, jump_factor, status, reason, dag_id, run_id
) VALUES (
    %(model_type)s, %(model_version)s, %(as_of)s, %(window_start)s, %(source)s, %(n)s,
    %(confidence)s, %(ticket)s, %(clear)s, %(ticket_threshold)s, %(clear_threshold)s,
    %(ticket_share)s, %(clear_share)s, %(in_force_ticket_share)s, %(in_force_clear_share)s,
    %(jump_factor)s, %(status)s, %(reason)s, %(dag_id)s, %(run_id)s
)
ON CONFLICT (model_type, model_version, as_of) WHERE superseded_at IS NULL DO NOTHING
RETURNING *
