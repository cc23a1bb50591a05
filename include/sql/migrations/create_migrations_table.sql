-- The bookkeeping table of applied migrations (created before any migration runs).
CREATE SCHEMA IF NOT EXISTS fraudcal;
CREATE TABLE IF NOT EXISTS fraudcal.schema_migrations (
    name       text PRIMARY KEY,
    applied_at timestamptz NOT NULL DEFAULT now()
)
