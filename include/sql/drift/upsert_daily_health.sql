-- Record one version's health on one day (re-runs rewrite the row: labels arrive late).
-- class_coverage (migration 0005): per method, level and class, the counts the coverage rule reads back.
INSERT INTO fraudcal.model_health_daily (
    model_type, model_version, day, predictions, labeled, frauds, fraud_rate, fraud_rate_low,
    fraud_rate_high, pr_auc, roc_auc, brier, ece, mean_probability, psi, ks, with_set,
    covered_90, covered_95, covered_99, coverage_90, coverage_95, coverage_99,
    coverage_fraud_90, coverage_fraud_95, coverage_fraud_99, mean_width_90, class_coverage,
    coverage_method, alerts, notes, run_id
) VALUES (
    %(model_type)s, %(model_version)s, %(day)s, %(predictions)s, %(labeled)s, %(frauds)s,
    %(fraud_rate)s, %(fraud_rate_low)s, %(fraud_rate_high)s, %(pr_auc)s, %(roc_auc)s, %(brier)s,
    %(ece)s, %(mean_probability)s, %(psi)s, %(ks)s, %(with_set)s, %(covered_90)s, %(covered_95)s,
    %(covered_99)s, %(coverage_90)s, %(coverage_95)s, %(coverage_99)s, %(coverage_fraud_90)s,
    %(coverage_fraud_95)s, %(coverage_fraud_99)s, %(mean_width_90)s, %(class_coverage)s,
    %(coverage_method)s, %(alerts)s, %(notes)s, %(run_id)s
)
ON CONFLICT (model_type, model_version, day) DO UPDATE SET
    predictions = EXCLUDED.predictions, labeled = EXCLUDED.labeled, frauds = EXCLUDED.frauds,
    fraud_rate = EXCLUDED.fraud_rate, fraud_rate_low = EXCLUDED.fraud_rate_low,
    fraud_rate_high = EXCLUDED.fraud_rate_high, pr_auc = EXCLUDED.pr_auc, roc_auc = EXCLUDED.roc_auc,
    brier = EXCLUDED.brier, ece = EXCLUDED.ece, mean_probability = EXCLUDED.mean_probability,
    psi = EXCLUDED.psi, ks = EXCLUDED.ks, with_set = EXCLUDED.with_set,
    covered_90 = EXCLUDED.covered_90, covered_95 = EXCLUDED.covered_95, covered_99 = EXCLUDED.covered_99,
    coverage_90 = EXCLUDED.coverage_90, coverage_95 = EXCLUDED.coverage_95, coverage_99 = EXCLUDED.coverage_99,
    coverage_fraud_90 = EXCLUDED.coverage_fraud_90, coverage_fraud_95 = EXCLUDED.coverage_fraud_95,
    coverage_fraud_99 = EXCLUDED.coverage_fraud_99, mean_width_90 = EXCLUDED.mean_width_90,
    class_coverage = EXCLUDED.class_coverage, coverage_method = EXCLUDED.coverage_method,
    alerts = EXCLUDED.alerts, notes = EXCLUDED.notes, run_id = EXCLUDED.run_id, computed_at = now()
