-- Retire the current row of a key: it stays in the table, with the time it stopped being current.
UPDATE fraudcal.calibration_sets SET superseded_at = now() WHERE id = %(id)s AND superseded_at IS NULL
