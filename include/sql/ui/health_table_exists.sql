-- Whether the drift table exists yet (migration 0003 is applied by the first drift run).
SELECT to_regclass('fraudcal.model_health_daily') IS NOT NULL AS present
