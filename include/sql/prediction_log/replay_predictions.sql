-- Every prediction of one model version in [time_from, time_to), labeled or not, for the replay
-- of the methods (fraudcal.replay), as binary COPY of fixed-width columns:
-- (predicted_at, probability, labeled, label, high_risk, has_risk_level).
-- The log keeps no label timestamps: a label is the label as the log holds it now.
-- labeled is FALSE where the label is NULL (label is then 0); label is the log's value as a
-- smallint (a boolean as 0/1), so that a value other than 0/1 reaches fraudcal.inputs, which names it.
-- A NULL probability is sent as NaN (the step leaves it out and counts it). A NULL risk level
-- is sent as high_risk = FALSE, has_risk_level = FALSE: such a prediction cannot auto-ticket.
COPY (
    SELECT p.predicted_at,
           COALESCE(p.{probability}, 'NaN'::double precision),
           (p.{label} IS NOT NULL),
           COALESCE(p.{label}::integer, 0)::smallint,
           COALESCE({is_high_risk}, FALSE),
           {has_risk_level}
      FROM {log} AS p
     WHERE p.model_type = %(model_type)s
       AND p.model_version = %(model_version)s
       AND p.predicted_at >= %(time_from)s
       AND p.predicted_at <  %(time_to)s
) TO STDOUT (FORMAT binary)
