-- Remove one run's replayed rows before its rows are written again (same transaction as
-- replay/copy_replay_daily): a re-run of the same run_id replaces its own rows, others stay.
DELETE FROM fraudcal.replay_daily
 WHERE run_id = %(run_id)s
