-- Record that a publish made this set live in Redis (or found it live already); first time kept.
UPDATE fraudcal.calibration_sets SET published_at = COALESCE(published_at, now()) WHERE id = %(id)s
