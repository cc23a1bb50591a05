-- Rows in the benchmark window (to report rows/s).
SELECT count(*) FROM noc_fraud_prediction_log WHERE {labeled_window}
