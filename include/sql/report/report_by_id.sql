-- One archived report: where its HTML is (the UI serves it, if it lies in the artifacts folder).
SELECT id, report_type, html_path, subject FROM fraudcal.report_runs WHERE id = %(id)s
