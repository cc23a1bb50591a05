-- The current set of one (model, method, as_of), locked for this transaction, and whether its
-- numbers differ from the given ones (IS DISTINCT FROM: NULL and NaN compare equal to
-- themselves, so an unchanged set is recognised and nothing is written). The window's end and
-- label maturity count too: the same numbers from another window are another set.
SELECT cs.*,
       (cs.window_start, cs.window_end, cs.label_maturity_days, cs.n, cs.n_positive, cs.levels,
        cs.narrow_threshold, cs.calibration_score, cs.ece, cs.brier, cs.source)
       IS DISTINCT FROM
       (%(window_start)s::timestamptz, %(window_end)s::timestamptz, %(label_maturity_days)s::integer,
        %(n)s::integer, %(n_positive)s::integer, %(levels)s::jsonb,
        %(narrow_threshold)s::float8, %(calibration_score)s::float8, %(ece)s::float8,
        %(brier)s::float8, %(source)s::text) AS differs
  FROM fraudcal.calibration_sets AS cs
 WHERE cs.model_type = %(model_type)s
   AND cs.model_version = %(model_version)s
   AND cs.method = %(method)s
   AND cs.as_of = %(as_of)s
   AND cs.superseded_at IS NULL
   FOR UPDATE
