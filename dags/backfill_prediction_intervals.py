"""
### Backfill prediction intervals onto the historical prediction log

Writes the four interval columns (`prediction_lower_bound`, `prediction_upper_bound`,
`confidence_interval_width`, `calibration_score`) onto the predictions made between
`date_from` and `date_to` (inclusive, by `predicted_at`), each from the calibration set **in
force when it was made**: the newest set of its model version with `as_of <= predicted_at`.
A set never fills a prediction its own window contains.

Two steps, as with any Airflow backfill:

1. create the historical calibration sets:
   `airflow backfill create --dag-id calibrate_fraud_model --from-date 2025-01-01 --to-date 2025-03-31`
   (each run records its `as_of` set; none replaces the newer live set in Redis);
2. trigger this DAG with the same date range.

**plan** cuts the rows to fill into id ranges of `chunk_size` ids → **apply_chunk** (mapped,
two at a time; never more mapped tasks than a fixed bound well under Airflow's limit, each
then applying a run of consecutive chunks) fills each chunk in short transactions →
**verify** counts the rows left unfilled and why, recomputes a random sample in Python (it
must equal what is stored), and emits the `fraudcal_prediction_intervals` Asset event.

Safe to kill at any moment and re-trigger: with `overwrite` off only rows still NULL are
filled, so a re-run continues where the last one stopped and ends with the values an
uninterrupted run gives. Re-running a finished backfill writes nothing. `dry_run` plans and
counts without writing. Concurrent inserts and label updates are never lost or overwritten,
and never wait on a deadlock: only the four interval columns are written, and a chunk skips
(never waits for) rows a writer holds, retries them in a few short passes, and leaves any
still held to the next run; `verify` counts them.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import dag, task

from fraudcal_airflow import params
from fraudcal_airflow.assets import PREDICTION_INTERVALS
from fraudcal_airflow.defaults import DEFAULT_ARGS, START_DATE

#: Chunks applied at the same time per run (the machine this was measured on has 2 cores).
PARALLEL_CHUNKS = 2


@dag(
    dag_id="backfill_prediction_intervals",
    dag_display_name="Backfill prediction intervals",
    description="Write as-of conformal intervals onto historical predictions, in resumable chunks.",
    doc_md=__doc__,
    schedule=None,
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["fraudcal", "backfill", "conformal"],
    params=params.backfill_prediction_intervals(),
)
def backfill_prediction_intervals():
    @task(task_display_name="Plan chunks")
    def plan() -> dict[str, Any]:
        """Check the Params, resolve versions, and cut the rows to fill into id ranges."""
        from fraudcal_airflow.runtime import current_run
        from fraudcal_airflow.steps import backfill

        return backfill.plan(current_run().params).as_dict()

    @task(task_display_name="Chunks to apply")
    def chunks(planned: dict[str, Any]) -> list[dict[str, int]]:
        """The plan's id ranges, one per mapped apply_chunk (Airflow maps over a task's whole return value)."""
        return planned["batches"]

    @task(task_display_name="Apply chunks", max_active_tis_per_dagrun=PARALLEL_CHUNKS)
    def apply_chunk(planned: dict[str, Any], batch: dict[str, int]) -> dict[str, int]:
        """Fill the chunks of one id range, each in short transactions; return rows written and left."""
        from fraudcal_airflow.steps import backfill

        return backfill.apply_batch(planned["request"], batch).as_dict()

    @task(task_display_name="Verify", outlets=[PREDICTION_INTERVALS], trigger_rule="none_failed")
    def verify(planned: dict[str, Any], applied: list[dict[str, int]]) -> dict[str, Any]:
        """Count rows left unfilled by reason; recompute a random sample in Python."""
        from fraudcal_airflow.runtime import set_asset_extra
        from fraudcal_airflow.steps import backfill

        result = backfill.verify(planned, applied)
        if not result.dry_run:
            set_asset_extra(PREDICTION_INTERVALS, result.asset_extra)
        return result.as_dict()

    planned = plan()
    applied = apply_chunk.partial(planned=planned).expand(batch=chunks(planned))
    verify(planned, applied)


backfill_prediction_intervals_dag = backfill_prediction_intervals()
