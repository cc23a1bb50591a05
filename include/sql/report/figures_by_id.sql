-- The figures of one archived report (the demo prints the methods' side-by-side table from them).
SELECT figures FROM fraudcal.report_runs WHERE id = %(id)s
