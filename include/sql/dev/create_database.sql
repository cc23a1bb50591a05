-- Create a database for demos, benchmarks or tests ({database} is composed as an identifier).
CREATE DATABASE {database}
