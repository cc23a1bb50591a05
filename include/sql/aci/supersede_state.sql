-- Retire the current ACI state of a key: it stays in the table, with the time it stopped being current.
UPDATE fraudcal.aci_state SET superseded_at = now() WHERE id = %(id)s AND superseded_at IS NULL
