-- Every replayed row of one run, in the replay's order (version, day, then configs as the run
-- listed them, fraud before legitimate): what the report is built from.
SELECT model_version, day, config, method, options, class, level, window_days, label_maturity_days,
       n, covered, set_0, set_1, set_both, set_empty, high_risk, tickets, tickets_fraud, cleared,
       cleared_legit, review, quantile, window_n, alpha, saturated, too_few_frauds,
       ticket_threshold, clear_threshold, ece_raw, ece_p
  FROM fraudcal.replay_daily
 WHERE run_id = %(run_id)s AND model_type = %(model_type)s
 ORDER BY model_version, day, array_position(%(configs)s::text[], config), class
