-- Whether a fraudcal table exists yet (a migration is applied by the first run that needs it).
SELECT to_regclass(%(table)s) IS NOT NULL AS present
