-- Retire the current triage row of a key: it stays, with the time it stopped being current.
UPDATE fraudcal.triage_certificates SET superseded_at = now() WHERE id = %(id)s AND superseded_at IS NULL
