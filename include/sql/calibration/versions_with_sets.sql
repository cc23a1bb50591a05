-- Every (model type, version) that has a calibration set, with its newest as_of.
SELECT model_type, model_version, max(as_of) AS newest_as_of
  FROM fraudcal.current_calibration_sets
 WHERE method = %(method)s
 GROUP BY model_type, model_version
 ORDER BY model_type, model_version
