-- Mark one migration as applied (in the same transaction as the migration itself).
INSERT INTO fraudcal.schema_migrations (name) VALUES (%(name)s)
