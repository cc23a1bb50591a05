-- fraudcal-owned schema, migration 0001: the calibration sets (DESIGN.md 3.2).
-- One row per (model_type, model_version, method, as_of); re-runs upsert the same row.
CREATE SCHEMA IF NOT EXISTS fraudcal;

CREATE TABLE IF NOT EXISTS fraudcal.calibration_sets (
    id                bigserial PRIMARY KEY,
    model_type        text        NOT NULL,
    model_version     text        NOT NULL,
    method            text        NOT NULL,
    as_of             timestamptz NOT NULL,
    window_start      timestamptz NOT NULL,
    window_end        timestamptz NOT NULL,
    n                 integer     NOT NULL CHECK (n >= 1),
    n_positive        integer     NOT NULL CHECK (n_positive BETWEEN 0 AND n),
    levels            jsonb       NOT NULL,          -- {"90": {"quantile": q, "k": k}, ...}
    narrow_threshold  double precision NOT NULL,
    calibration_score double precision,              -- 1 - ECE
    ece               double precision,
    brier             double precision,
    mean_prediction   double precision,
    std_prediction    double precision,
    mean_actual       double precision,
    source            text        NOT NULL,
    validation        jsonb       NOT NULL DEFAULT '{}'::jsonb,
    dag_id            text,
    run_id            text,
    computed_at       timestamptz NOT NULL DEFAULT now(),  -- last time the numbers changed
    created_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT calibration_sets_window_ck CHECK (window_start < window_end AND as_of = window_end),
    CONSTRAINT calibration_sets_key UNIQUE (model_type, model_version, method, as_of)
);

-- The as-of lookup of backfills: newest set with as_of <= t for one model version.
CREATE INDEX IF NOT EXISTS calibration_sets_as_of_idx
    ON fraudcal.calibration_sets (model_type, model_version, method, as_of DESC);
