-- Recorded calibration sets by id (the publish step builds the payload from them).
SELECT * FROM fraudcal.calibration_sets WHERE id = ANY(%(ids)s)
