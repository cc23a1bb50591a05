-- Releases lock_scratch_databases.
SELECT pg_advisory_unlock(hashtext('fraudcal_dev.scratch'))
