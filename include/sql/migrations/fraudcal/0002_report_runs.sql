-- fraudcal-owned schema, migration 0002: the archive of every report fraudcal renders.
-- One row per (report_type, dag_id, run_id): a re-run of the same Airflow run rewrites it.
CREATE TABLE IF NOT EXISTS fraudcal.report_runs (
    id            bigserial PRIMARY KEY,
    report_type   text        NOT NULL,           -- 'coverage', 'drift'
    dag_id        text        NOT NULL,
    run_id        text        NOT NULL,
    model_type    text        NOT NULL,
    model_versions text[]     NOT NULL,
    date_from     date,
    date_to       date,
    status        text        NOT NULL CHECK (status IN ('green', 'amber', 'red')),
    subject       text        NOT NULL,
    recipients    text[]      NOT NULL,
    html_path     text        NOT NULL,
    figures       jsonb       NOT NULL,
    rendered_at   timestamptz NOT NULL DEFAULT now(),
    sent_at       timestamptz,                     -- NULL until the SMTP server accepted it
    CONSTRAINT report_runs_key UNIQUE (report_type, dag_id, run_id)
);
