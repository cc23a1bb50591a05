-- fraudcal-owned schema, migration 0004: the calibration-set table keeps every set recorded.
-- Until now a re-run with new numbers, or a set from another source (a CSV) for the same
-- (model, method, as_of), overwrote the row in place: the record of what was live was lost,
-- and the live Redis payload's calibration_set_id pointed at numbers it never carried. Rows
-- are now never rewritten: a changed set supersedes the current row (superseded_at) and
-- gets a row of its own. At most one row per key is current; every reader of "the set in
-- force" reads fraudcal.current_calibration_sets.
ALTER TABLE fraudcal.calibration_sets ADD COLUMN IF NOT EXISTS superseded_at timestamptz;
-- When a publish made (or found) the set live in Redis; NULL for a set never published.
ALTER TABLE fraudcal.calibration_sets ADD COLUMN IF NOT EXISTS published_at timestamptz;
ALTER TABLE fraudcal.calibration_sets DROP CONSTRAINT IF EXISTS calibration_sets_key;
CREATE UNIQUE INDEX IF NOT EXISTS calibration_sets_current_key
    ON fraudcal.calibration_sets (model_type, model_version, method, as_of)
 WHERE superseded_at IS NULL;
CREATE OR REPLACE VIEW fraudcal.current_calibration_sets AS
    SELECT * FROM fraudcal.calibration_sets WHERE superseded_at IS NULL;
