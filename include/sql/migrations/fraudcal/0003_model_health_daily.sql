-- fraudcal-owned schema, migration 0003: the daily health time series of each model version.
-- One row per (model_type, model_version, day); a re-run of the day (labels arrived) rewrites it.
CREATE TABLE IF NOT EXISTS fraudcal.model_health_daily (
    model_type        text    NOT NULL,
    model_version     text    NOT NULL,
    day               date    NOT NULL,
    predictions       integer NOT NULL,
    labeled           integer NOT NULL,
    frauds            integer NOT NULL,
    fraud_rate        double precision,
    fraud_rate_low    double precision,      -- 95 % Wilson interval
    fraud_rate_high   double precision,
    pr_auc            double precision,
    roc_auc           double precision,
    brier             double precision,
    ece               double precision,      -- 10 equal-mass bins
    mean_probability  double precision,
    psi               double precision,      -- scores vs the reference window, 10 reference-decile bins
    ks                double precision,
    with_set          integer NOT NULL DEFAULT 0,   -- labeled rows with a calibration set in force
    covered_90        integer, covered_95 integer, covered_99 integer,
    coverage_90       double precision, coverage_95 double precision, coverage_99 double precision,
    coverage_fraud_90 double precision, coverage_fraud_95 double precision, coverage_fraud_99 double precision,
    mean_width_90     double precision,
    alerts            jsonb   NOT NULL DEFAULT '[]'::jsonb,
    notes             jsonb   NOT NULL DEFAULT '[]'::jsonb,
    run_id            text,
    computed_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (model_type, model_version, day)
);
