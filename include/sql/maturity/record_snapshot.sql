-- Record one day's label snapshot of a model type: per (model version, UTC prediction day) of
-- the predictions made in [time_from, time_to) (the horizon up to the end of snapshot_day, so
-- an Airflow backfill counts only predictions before its as_of), how many there are, how many
-- carry a label and how many of those are frauds, as the log stands now. One aggregate over the
-- log; a row already recorded for its key is kept as it was (append-only, never rewritten).
-- {log}, {label} and {is_fraud} are composed from the prediction-log registry (db/sql.py).
INSERT INTO fraudcal.label_snapshots (
    model_type, model_version, prediction_day, snapshot_day, n_predictions, n_labeled, n_fraud, source
)
SELECT p.model_type,
       p.model_version,
       (p.predicted_at AT TIME ZONE 'UTC')::date AS prediction_day,
       %(snapshot_day)s::date,
       count(*),
       count(p.{label}),
       count(*) FILTER (WHERE {is_fraud}),
       %(source)s
  FROM {log} AS p
 WHERE p.model_type = %(model_type)s
   AND p.predicted_at >= %(time_from)s
   AND p.predicted_at <  %(time_to)s
 GROUP BY p.model_type, p.model_version, prediction_day
ON CONFLICT (model_type, model_version, prediction_day, snapshot_day) DO NOTHING
