-- The current triage row of one (model version, as_of), whatever its status.
SELECT *
  FROM fraudcal.triage_certificates
 WHERE model_type = %(model_type)s AND model_version = %(model_version)s AND as_of = %(as_of)s
   AND superseded_at IS NULL
