-- The current triage row of one (model version, as_of), locked for this transaction, and
-- whether its certificates differ from the given ones (a re-run over unchanged data finds
-- them equal and writes nothing, so the row and the payload stay byte for byte the same).
SELECT tc.*,
       (tc.window_start, tc.source, tc.n, tc.confidence, tc.ticket, tc.clear, tc.jump_factor)
       IS DISTINCT FROM
       (%(window_start)s::timestamptz, %(source)s::text, %(n)s::integer, %(confidence)s::float8,
        %(ticket)s::jsonb, %(clear)s::jsonb, %(jump_factor)s::float8) AS differs
  FROM fraudcal.triage_certificates AS tc
 WHERE tc.model_type = %(model_type)s
   AND tc.model_version = %(model_version)s
   AND tc.as_of = %(as_of)s
   AND tc.superseded_at IS NULL
   FOR UPDATE
