-- An operator's answer to a pending certificate: approved (it takes force) or rejected.
-- Only a row still pending and current changes; the caller learns from the row count.
UPDATE fraudcal.triage_certificates
   SET status = %(status)s, decided_at = now(), decided_by = %(decided_by)s
 WHERE id = %(id)s AND status = 'pending_approval' AND superseded_at IS NULL
RETURNING *
