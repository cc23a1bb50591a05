-- Statistics for the planner right after a bulk load (autovacuum may be off or late): without
-- them the backfill's as-of UPDATE was planned badly on a freshly loaded log (421 s instead of 1 s).
ANALYZE noc_fraud_prediction_log
