-- Row-by-row path: one UPDATE per prediction, as an ORM loop issues it.
UPDATE noc_fraud_prediction_log
   SET prediction_lower_bound = %s, prediction_upper_bound = %s,
       confidence_interval_width = %s, calibration_score = %s
 WHERE id = %s
