-- One stored calibration set by its natural key (read back when an upsert changed nothing).
SELECT *
  FROM fraudcal.calibration_sets
 WHERE model_type = %(model_type)s
   AND model_version = %(model_version)s
   AND method = %(method)s
   AND as_of = %(as_of)s
