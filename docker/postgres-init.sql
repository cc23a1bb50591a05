-- Runs once when the PostgreSQL volume is created: the prediction log lives in its own
-- database, beside Airflow's metadata database.
CREATE DATABASE fraud OWNER airflow;
