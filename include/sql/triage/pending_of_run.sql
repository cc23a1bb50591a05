-- The current rows a calibration run recorded that wait for an operator's approval.
SELECT *
  FROM fraudcal.triage_certificates
 WHERE dag_id = %(dag_id)s AND run_id = %(run_id)s
   AND status = 'pending_approval' AND superseded_at IS NULL
 ORDER BY model_type, model_version, as_of
