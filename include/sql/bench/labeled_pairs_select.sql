-- Benchmark candidate for pandas.read_sql: the same rows as a plain SELECT.
SELECT fraud_probability AS probability, actual_fraud_detected::int AS label
  FROM noc_fraud_prediction_log
 WHERE {labeled_window}
