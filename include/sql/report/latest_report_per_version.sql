-- The newest archived coverage report that covers each (model type, version): for the UI's links.
SELECT DISTINCT ON (r.model_type, version) r.model_type, version AS model_version, r.id, r.status,
       r.subject, r.rendered_at, r.sent_at
  FROM fraudcal.report_runs AS r
 CROSS JOIN LATERAL unnest(r.model_versions) AS version
 WHERE r.report_type = 'coverage'
 ORDER BY r.model_type, version, r.rendered_at DESC
