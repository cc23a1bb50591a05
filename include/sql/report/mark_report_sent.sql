-- Record that the SMTP server accepted the report.
UPDATE fraudcal.report_runs SET sent_at = now() WHERE id = %(id)s
