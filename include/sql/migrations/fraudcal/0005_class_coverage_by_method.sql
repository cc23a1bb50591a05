-- fraudcal-owned schema, migration 0005: per-method, per-class coverage in the daily health rows.
-- The coverage rule of report_drift judges the default method (the one the online service acts
-- on, mondrian unless a run says otherwise) for the confirmed frauds and the legitimate cases
-- apart. The columns of 0003 keep the residual figures as they were; class_coverage holds, per
-- method, level and class, the counts the rule reads back for the days before the judged one:
-- {"mondrian": {"90": {"fraud": {"covered": 27, "n": 30}, "legitimate": {...}}, ...}, "residual": {...}}.
-- Rows stored before this migration hold '{}': their days count as "not measured", never as below target.
ALTER TABLE fraudcal.model_health_daily
    ADD COLUMN IF NOT EXISTS class_coverage jsonb NOT NULL DEFAULT '{}'::jsonb;
-- The method the day's coverage rule judged (the run's default_method); NULL before 0005.
ALTER TABLE fraudcal.model_health_daily ADD COLUMN IF NOT EXISTS coverage_method text;
