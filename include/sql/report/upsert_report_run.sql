-- Archive one rendered report (before it is sent, so that a failed send loses nothing).
INSERT INTO fraudcal.report_runs AS r (
    report_type, dag_id, run_id, model_type, model_versions, date_from, date_to, status,
    subject, recipients, html_path, figures
) VALUES (
    %(report_type)s, %(dag_id)s, %(run_id)s, %(model_type)s, %(model_versions)s, %(date_from)s,
    %(date_to)s, %(status)s, %(subject)s, %(recipients)s, %(html_path)s, %(figures)s
)
ON CONFLICT (report_type, dag_id, run_id) DO UPDATE
   SET model_type = EXCLUDED.model_type, model_versions = EXCLUDED.model_versions,
       date_from = EXCLUDED.date_from, date_to = EXCLUDED.date_to, status = EXCLUDED.status,
       subject = EXCLUDED.subject, recipients = EXCLUDED.recipients,
       html_path = EXCLUDED.html_path, figures = EXCLUDED.figures, rendered_at = now(), sent_at = NULL
RETURNING id
