-- Every stored set of one model and method, oldest first (for the Python as-of lookup).
SELECT model_version, as_of, levels, calibration_score
  FROM fraudcal.current_calibration_sets
 WHERE model_type = %(model_type)s AND method = %(method)s
 ORDER BY model_version, as_of
