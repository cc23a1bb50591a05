-- The comment (fraudcal's scratch mark, if any) of one database, read from any database of the server.
SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %(database)s
