-- Serialises check-create-mark of scratch databases across concurrent sessions on one server.
SELECT pg_advisory_lock(hashtext('fraudcal_dev.scratch'))
