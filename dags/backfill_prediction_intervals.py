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

**plan** cuts the rows to fill into id ranges of `chunk_size` rows → **apply_chunk** (mapped,
two at a time) fills each range in one short transaction → **verify** counts the rows left
unfilled and why, recomputes a random sample in Python (it must equal what is stored), and
emits the `fraudcal_prediction_intervals` Asset event.

Safe to kill at any moment and re-trigger: with `overwrite` off only rows still NULL are
filled, so a re-run continues where the last one stopped and ends with the values an
uninterrupted run gives. Re-running a finished backfill writes nothing. `dry_run` plans and
counts without writing. Concurrent inserts and label updates are never lost or overwritten:
only the four interval columns are written, and a chunk yields to any row lock after 200 ms.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import Param, dag, get_current_context, task

from fraudcal_airflow.assets import PREDICTION_INTERVALS
from fraudcal_airflow.defaults import DEFAULT_ARGS, START_DATE
from fraudcal_airflow.params import coverage_level_param, model_type_param, model_versions_param

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
    params={
        "model_type": model_type_param(),
        "model_versions": model_versions_param(
            "Versions to fill, one per line. Empty: every version of the model type."
        ),
        "source": Param(
            "fraud_log",
            type="string",
            enum=["fraud_log", "prediction_log"],
            title="Prediction log",
            description="fraud_log = noc_fraud_prediction_log, prediction_log = ml_prediction_log.",
        ),
        "date_from": Param(
            "2025-01-01",
            type="string",
            format="date",
            title="From (inclusive)",
            description="First day (UTC) of predicted_at to fill, YYYY-MM-DD.",
        ),
        "date_to": Param(
            "2025-01-31",
            type="string",
            format="date",
            title="To (inclusive)",
            description="Last day (UTC) of predicted_at to fill, YYYY-MM-DD.",
        ),
        "coverage_level": coverage_level_param("Coverage level (%)", "Which level's quantile fills the four columns."),
        "chunk_size": Param(
            100_000,
            type="integer",
            minimum=1_000,
            maximum=2_000_000,
            title="Chunk size (rows)",
            description="Rows per transaction; 50k-200k cost 4-7 % over one single UPDATE.",
        ),
        "overwrite": Param(
            False,
            type="boolean",
            title="Overwrite filled rows",
            description="Off: only rows whose bounds are NULL (resumable). On: recompute every row.",
        ),
        "dry_run": Param(False, type="boolean", title="Dry run", description="Plan and count only; write nothing."),
    },
)
def backfill_prediction_intervals():
    @task(task_display_name="Plan chunks")
    def plan() -> list[dict[str, int]]:
        """Check the Params, resolve versions, and cut the rows to fill into id ranges.

        Returns the chunks to apply (none in a dry run); the request and the row count go to
        XCom keys ``request`` and ``rows`` for the verify task.
        """
        from airflow.sdk.exceptions import AirflowFailException

        from fraudcal_airflow import intervals, outcomes
        from fraudcal_airflow.connections import fraud_db_connection
        from fraudcal_airflow.errors import CalibrationInputError

        context = get_current_context()
        params = context["params"]
        try:
            time_from, time_to = intervals.parse_date_range(params["date_from"], params["date_to"])
            if params["chunk_size"] < 1:
                raise CalibrationInputError(f"chunk_size={params['chunk_size']} must be positive")
            with fraud_db_connection() as conn:
                versions = outcomes.requested_or_known_versions(
                    conn, params["source"], params["model_type"], params["model_versions"]
                )
                request = intervals.BackfillRequest(
                    source=params["source"],
                    model_type=params["model_type"],
                    model_versions=tuple(versions),
                    time_from=time_from,
                    time_to=time_to,
                    coverage_level=params["coverage_level"],
                    chunk_size=params["chunk_size"],
                    overwrite=params["overwrite"],
                )
                chunks, rows = intervals.plan_chunks(conn, request)
        except CalibrationInputError as error:
            raise AirflowFailException(str(error)) from error
        print(
            f"{rows:,} rows of {versions} in [{time_from:%Y-%m-%d}, {time_to:%Y-%m-%d}) to consider, "
            f"in {len(chunks)} chunks of up to {request.chunk_size:,}"
            + (" (dry run: nothing written)" if params["dry_run"] else "")
        )
        context["ti"].xcom_push(key="request", value=request.as_dict())
        context["ti"].xcom_push(key="rows", value=rows)
        return [] if params["dry_run"] else [{"id_from": chunk.id_from, "id_to": chunk.id_to} for chunk in chunks]

    @task(task_display_name="Apply chunk", max_active_tis_per_dagrun=PARALLEL_CHUNKS)
    def apply_chunk(chunk: dict[str, int]) -> int:
        """Fill one id range in one transaction; return the rows written."""
        from fraudcal_airflow import intervals
        from fraudcal_airflow.connections import fraud_db_connection

        request = get_current_context()["ti"].xcom_pull(task_ids="plan", key="request")
        with fraud_db_connection() as conn:
            written = intervals.apply_chunk(
                conn, intervals.BackfillRequest.from_dict(request), intervals.Chunk(**chunk)
            )
        print(f"ids [{chunk['id_from']}, {chunk['id_to']}): {written:,} rows written")
        return written

    @task(
        task_display_name="Verify", outlets=[PREDICTION_INTERVALS], trigger_rule="none_failed", multiple_outputs=False
    )
    def verify(written: list[int]) -> dict[str, Any]:
        """Count rows left unfilled by reason; recompute a random sample in Python."""
        from airflow.sdk.exceptions import AirflowFailException

        from fraudcal_airflow import intervals
        from fraudcal_airflow.connections import fraud_db_connection

        context = get_current_context()
        request = context["ti"].xcom_pull(task_ids="plan", key="request")
        rows = context["ti"].xcom_pull(task_ids="plan", key="rows")
        backfill = intervals.BackfillRequest.from_dict(request)
        with fraud_db_connection() as conn:
            unfilled = intervals.unfilled_by_reason(conn, backfill)
            sample = intervals.verify_sample(conn, backfill)
        summary = {
            "request": request,
            "dry_run": context["params"]["dry_run"],
            "rows_considered": rows,
            "rows_written": int(sum(written or [])),
            "unfilled": unfilled,
            "sample": sample,
        }
        for reason, count in unfilled.items():
            print(f"left unfilled: {count:,} rows: {reason}")
        print(
            f"rows written {summary['rows_written']:,}; sample of {sample['sampled']} recomputed, "
            f"{sample['mismatch_count']} mismatches"
        )
        if sample["mismatch_count"]:
            raise AirflowFailException(f"stored intervals differ from the Python recomputation: {sample['mismatches']}")
        if not summary["dry_run"]:
            context["outlet_events"][PREDICTION_INTERVALS].extra = {
                key: summary[key] for key in ("rows_written", "unfilled")
            } | {
                "model_type": backfill.model_type,
                "date_from": context["params"]["date_from"],
                "date_to": context["params"]["date_to"],
            }
        return summary

    verify(apply_chunk.expand(chunk=plan()))


backfill_prediction_intervals_dag = backfill_prediction_intervals()
