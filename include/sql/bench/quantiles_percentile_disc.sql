-- Benchmark candidate: the conformal quantiles computed inside PostgreSQL.
-- percentile_disc(f) is the ceil(f * n)-th smallest value, so f = k / n selects the k-th.
WITH w AS (
    SELECT CASE WHEN actual_fraud_detected THEN 1 - fraud_probability ELSE fraud_probability END AS score
      FROM noc_fraud_prediction_log
     WHERE model_type = %(model_type)s
       AND model_version = %(model_version)s
       AND predicted_at >= %(window_start)s
       AND predicted_at <  %(window_end)s
       AND actual_fraud_detected IS NOT NULL
)
SELECT percentile_disc(%(fractions)s::float8[]) WITHIN GROUP (ORDER BY score) FROM w
