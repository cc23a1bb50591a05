-- A settled table for every variant: no dead tuples, fresh statistics (autocommit: VACUUM runs outside a transaction).
VACUUM ANALYZE noc_fraud_prediction_log
