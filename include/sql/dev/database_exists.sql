-- Whether a database of this name exists on the server.
SELECT 1 FROM pg_database WHERE datname = %(database)s
