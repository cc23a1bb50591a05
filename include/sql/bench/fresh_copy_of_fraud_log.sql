-- A fresh copy of the fraud prediction log (same rows, same indexes) in schema bench_copy,
-- so that each backfill variant starts from identical, unbloated pages.
-- {fillfactor} is composed as a literal from a fixed list of benchmark variants.
DROP SCHEMA IF EXISTS bench_copy CASCADE;
CREATE SCHEMA bench_copy;
CREATE TABLE bench_copy.noc_fraud_prediction_log
    (LIKE public.noc_fraud_prediction_log INCLUDING ALL) WITH (fillfactor = {fillfactor});
INSERT INTO bench_copy.noc_fraud_prediction_log SELECT * FROM public.noc_fraud_prediction_log ORDER BY id;
