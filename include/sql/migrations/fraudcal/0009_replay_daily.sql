-- fraudcal-owned schema, migration 0009: what each calibration method would have done, day by
-- day, on the history (DAG replay_methods; numbers from fraudcal.replay.replay).
-- One row per (run, model version, replayed day, method configuration, class). A re-run of the
-- same Airflow run replaces its own rows in one transaction (replay/delete_run_rows then
-- replay/copy_replay_daily); other runs' rows are never touched.
CREATE TABLE IF NOT EXISTS fraudcal.replay_daily (
    dag_id              text        NOT NULL,
    run_id              text        NOT NULL,
    model_type          text        NOT NULL,
    model_version       text        NOT NULL,
    day                 date        NOT NULL,               -- the prediction day judged (UTC)
    config              text        NOT NULL,               -- the configuration's name (unique in a run)
    method              text        NOT NULL CHECK (method IN ('residual', 'mondrian', 'mondrian_aci', 'venn_abers')),
    options             jsonb       NOT NULL DEFAULT '{}'::jsonb,  -- e.g. {"gamma": 0.05}
    class               text        NOT NULL CHECK (class IN ('fraud', 'legitimate')),
    level               smallint    NOT NULL,               -- coverage level (percent) of the label sets
    window_days         integer     NOT NULL,               -- the calibration's: [E - window_days, E), E = as_of - maturity
    label_maturity_days integer     NOT NULL,
    -- counts of the day's labeled predictions of the class; covered and the set counts are NULL
    -- for Venn-Abers (no label sets)
    n                   integer     NOT NULL,
    covered             integer,
    set_0               integer,
    set_1               integer,
    set_both            integer,
    set_empty           integer,
    high_risk           integer     NOT NULL,               -- HIGH or CRITICAL
    tickets             integer     NOT NULL,
    tickets_fraud       integer     NOT NULL,
    cleared             integer     NOT NULL,
    cleared_legit       integer     NOT NULL,
    review              integer     NOT NULL,
    -- the set in force on the day: the class's quantile (residual: the one q), the window's rows,
    -- ACI's miscoverage level and whether it hit its clip, the certified triage thresholds, ECEs
    quantile            double precision,
    window_n            integer,
    alpha               double precision,
    saturated           boolean,
    too_few_frauds      boolean,
    ticket_threshold    double precision,
    clear_threshold     double precision,
    ece_raw             double precision,
    ece_p               double precision,
    created_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (run_id, model_type, model_version, day, config, class),
    CHECK (covered IS NULL OR covered BETWEEN 0 AND n),
    CHECK (tickets_fraud <= tickets AND cleared_legit <= cleared AND review <= n)
);
