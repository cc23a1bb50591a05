-- Serialise concurrent migrators (two DAG runs starting together) for this transaction.
SELECT pg_advisory_xact_lock(hashtext('fraudcal.schema_migrations'))
