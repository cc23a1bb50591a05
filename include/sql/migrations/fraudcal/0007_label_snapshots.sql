-- fraudcal-owned schema, migration 0007: label maturity (fraudcal.maturity).
--
-- fraudcal.label_snapshots: an append-only daily snapshot of how far each prediction day's
-- labels have arrived. One row per (model_type, model_version, prediction_day, snapshot_day):
-- the predictions of that UTC day, how many carry a label and how many are frauds, as the log
-- stood when calibrate_fraud_model's task snapshot_labels ran for snapshot_day (the day before
-- its as_of). Written with ON CONFLICT DO NOTHING: a re-run of the day adds nothing and a row
-- is never rewritten, so the arrival curve read from it only ever gains history. The log has no
-- label timestamp: a snapshot written late (an Airflow backfill of an old date) counts the
-- labels known when it ran, i.e. more than that day really had.
CREATE TABLE IF NOT EXISTS fraudcal.label_snapshots (
    model_type     text        NOT NULL,
    model_version  text        NOT NULL,
    prediction_day date        NOT NULL,   -- UTC date of predicted_at
    snapshot_day   date        NOT NULL,   -- the counts as they stood at the end of this day
    n_predictions  integer     NOT NULL CHECK (n_predictions >= 0),
    n_labeled      integer     NOT NULL CHECK (n_labeled BETWEEN 0 AND n_predictions),
    n_fraud        integer     NOT NULL CHECK (n_fraud BETWEEN 0 AND n_labeled),
    source         text        NOT NULL,   -- the prediction log counted (fraud_log, prediction_log)
    recorded_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (model_type, model_version, prediction_day, snapshot_day),
    CONSTRAINT label_snapshots_day_ck CHECK (prediction_day <= snapshot_day)
);
-- The arrival curve of a run reads the snapshots up to a day: by snapshot day.
CREATE INDEX IF NOT EXISTS label_snapshots_snapshot_day_idx
    ON fraudcal.label_snapshots (model_type, snapshot_day);

-- A calibration window may now end before its as_of. With label_maturity_days = m > 0 the
-- window [window_start, window_end) ends m days before as_of's date (the days whose labels are
-- in) and keeps its length; the set is still in force from as_of (a prediction made at t gets
-- the newest set with as_of <= t, as before). With m = 0, as_of = window_end exactly as before.
ALTER TABLE fraudcal.calibration_sets
    ADD COLUMN IF NOT EXISTS label_maturity_days integer NOT NULL DEFAULT 0
    CHECK (label_maturity_days BETWEEN 0 AND 365);
ALTER TABLE fraudcal.calibration_sets DROP CONSTRAINT IF EXISTS calibration_sets_window_ck;
ALTER TABLE fraudcal.calibration_sets ADD CONSTRAINT calibration_sets_window_ck CHECK (
    window_start < window_end
    AND window_end <= as_of
    AND (label_maturity_days = 0) = (as_of = window_end)
);
-- The view lists the table's columns as they were when it was created: add the new one.
CREATE OR REPLACE VIEW fraudcal.current_calibration_sets AS
    SELECT * FROM fraudcal.calibration_sets WHERE superseded_at IS NULL;
