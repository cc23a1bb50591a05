-- Benchmark candidate: the conformal quantiles computed inside PostgreSQL.
-- percentile_disc(f) is the ceil(f * n)-th smallest value, so f = k / n selects the k-th.
WITH w AS (
    SELECT CASE WHEN actual_fraud_detected THEN 1 - fraud_probability ELSE fraud_probability END AS score
      FROM noc_fraud_prediction_log
     WHERE {labeled_window}
)
SELECT percentile_disc(%(fractions)s::float8[]) WITHIN GROUP (ORDER BY score) FROM w
