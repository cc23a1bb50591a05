-- Names of the migrations already applied.
SELECT name FROM fraudcal.schema_migrations
