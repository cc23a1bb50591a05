"""
### Calibrate the fraud model: daily conformal calibration sets

Every day, for each version of the model, the labeled outcomes predicted in the
`window_days` before the run's data interval end (`as_of`) are **extracted** from the
prediction log, **validated** with Great Expectations, turned into a residual conformal
**calibration set** (one quantile per coverage level), **recorded** in
`fraudcal.calibration_sets` and **published** to Redis at
`fraudcal:calibration:{model_type}:{model_version}` for the online service.

* Runs are idempotent per data interval: a re-run of a date rewrites the same row and, when
  the data is unchanged, leaves it and the Redis payload byte for byte as they were.
* A set for an older `as_of` (a backfill) is recorded but never replaces a newer live set.
* Bad input (a probability of 1.5, a NULL label, a duplicated id, too few outcomes, an
  unknown version, a CSV outside the import folder) fails the version's task with a message
  naming the value and the rule; nothing is recorded or published for it, and the live Redis
  set stays as it was.
* Great Expectations Data Docs of each validation are written under the artifacts folder;
  the `validate` task log gives the path.
* **repair_intervals** fills the interval columns of the data interval's predictions (the day
  before) that the online service left NULL (it does when Redis is down), from the set in
  force when each was made, never from the set computed in this run.

Historical sets: `airflow backfill create --dag-id calibrate_fraud_model --from-date ...
--to-date ...` (see the README). Contracts: `DESIGN.md` sections 3–5.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import CronDataIntervalTimetable, Param, dag, get_current_context, task, task_group

from fraudcal_airflow.assets import CALIBRATION_SETS
from fraudcal_airflow.defaults import DEFAULT_ARGS, START_DATE
from fraudcal_airflow.params import coverage_level_param, model_type_param, model_versions_param, narrow_threshold_param


def _run_identity() -> tuple[str, str, Any]:
    """(dag_id, run_id, params) of the running task."""
    context = get_current_context()
    return context["dag"].dag_id, context["run_id"], context["params"]


@dag(
    dag_id="calibrate_fraud_model",
    dag_display_name="Calibrate fraud model",
    description="Daily conformal calibration sets: extract, validate (GX), compute, record, publish to Redis.",
    doc_md=__doc__,
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=4,
    default_args=DEFAULT_ARGS,
    tags=["fraudcal", "calibration", "conformal"],
    params={
        "model_type": model_type_param(),
        "model_versions": model_versions_param(
            "Versions to calibrate, one per line. Empty: every version with labeled outcomes in the window."
        ),
        "source": Param(
            "fraud_log",
            type="string",
            enum=["fraud_log", "prediction_log", "csv"],
            title="Source",
            description="fraud_log = noc_fraud_prediction_log, prediction_log = ml_prediction_log, csv = a file in the import folder.",
        ),
        "csv_path": Param(
            None,
            type=["null", "string"],
            maxLength=500,
            title="CSV path",
            description="Only with source=csv: a file inside the import folder (FRAUDCAL_IMPORT_DIR).",
        ),
        "window_days": Param(
            30,
            type="integer",
            minimum=1,
            maximum=365,
            title="Window (days)",
            description="Labeled outcomes predicted in [as_of - window_days, as_of).",
        ),
        "min_samples": Param(
            30,
            type="integer",
            minimum=2,
            maximum=10_000_000,
            title="Minimum labeled outcomes",
            description="Fewer labeled outcomes than this: no set is made for the version.",
        ),
        "coverage_levels": Param(
            [90, 95, 99],
            type="array",
            items={"type": "integer", "enum": [90, 95, 99]},
            minItems=1,
            uniqueItems=True,
            title="Coverage levels (%)",
        ),
        "narrow_threshold": narrow_threshold_param(),
        "ttl_hours": Param(36, type="integer", minimum=1, maximum=720, title="Redis TTL (hours)"),
        "publish": Param(
            True, type="boolean", title="Publish to Redis", description="Off: record the sets in PostgreSQL only."
        ),
        "repair": Param(
            True,
            type="boolean",
            title="Repair the day's NULL intervals",
            description="Skipped in Airflow backfill runs: historical intervals are the backfill DAG's job.",
        ),
        "repair_coverage_level": coverage_level_param(
            "Repair: coverage level (%)",
            "Level whose interval fills the data interval's predictions left NULL by the online service.",
        ),
    },
)
def calibrate_fraud_model():
    @task(task_display_name="Plan: versions and window")
    def plan() -> list[dict[str, Any]]:
        """Apply fraudcal's migrations, check the Params, and list the versions to calibrate.

        The versions whose NULL intervals to repair go to XCom key ``repair_versions``.
        """
        from airflow.sdk.exceptions import AirflowFailException

        from fraudcal_airflow import calibration_steps as steps
        from fraudcal_airflow import outcomes
        from fraudcal_airflow.connections import fraud_db_connection
        from fraudcal_airflow.errors import CalibrationInputError
        from fraudcal_airflow.paths import import_dir
        from fraudcal_airflow.store import apply_migrations

        context = get_current_context()
        params = context["params"]
        as_of = steps.as_of_for_run(context.get("data_interval_end"), context["dag_run"].run_after)
        window = steps.CalibrationWindow.ending_at(as_of, params["window_days"])
        try:
            with fraud_db_connection() as conn:
                apply_migrations(conn)
                csv_frame = None
                if params["source"] == "csv":
                    csv_frame = outcomes.read_csv_outcomes(outcomes.resolve_csv_path(params["csv_path"], import_dir()))
                elif params["csv_path"]:
                    raise CalibrationInputError(
                        f"csv_path {params['csv_path']!r} is only read with source='csv' (source is {params['source']!r})"
                    )
                versions = steps.plan_versions(
                    conn=conn,
                    source=params["source"],
                    model_type=params["model_type"],
                    requested_versions=params["model_versions"],
                    window=window,
                    csv_frame=csv_frame,
                )
                if params["source"] == "csv":
                    repair_versions = []  # a CSV has no interval columns to repair
                elif params["model_versions"]:
                    repair_versions = versions
                else:
                    repair_versions = outcomes.known_versions(conn, params["source"], params["model_type"])
        except CalibrationInputError as error:
            raise AirflowFailException(str(error)) from error
        print(f"as_of {window.as_of.isoformat()}, window from {window.start.isoformat()}; versions: {versions}")
        context["ti"].xcom_push(key="repair_versions", value=repair_versions)
        return [{"model_version": version, **window.as_dict()} for version in versions]

    @task_group(group_id="calibrate_version")
    def calibrate_version(version_plan: dict[str, Any]):
        @task(task_display_name="Extract labeled outcomes", multiple_outputs=False)
        def extract(version_plan: dict[str, Any]) -> dict[str, Any]:
            """Snapshot the version's labeled outcomes of the window into the artifacts folder."""
            from airflow.sdk.exceptions import AirflowFailException

            from fraudcal_airflow import calibration_steps as steps
            from fraudcal_airflow import outcomes
            from fraudcal_airflow.connections import fraud_db_copy_connection
            from fraudcal_airflow.errors import CalibrationInputError
            from fraudcal_airflow.paths import artifacts_dir, import_dir

            dag_id, run_id, params = _run_identity()
            window = steps.CalibrationWindow.from_dict(version_plan)
            version = version_plan["model_version"]
            try:
                if params["source"] == "csv":
                    frame = outcomes.read_csv_outcomes(outcomes.resolve_csv_path(params["csv_path"], import_dir()))
                    labeled = outcomes.csv_outcomes(frame, params["model_type"], version, window.start, window.as_of)
                else:
                    copy_conn = fraud_db_copy_connection()
                    try:
                        labeled = outcomes.extract_outcomes(
                            copy_conn, params["source"], params["model_type"], version, window.start, window.as_of
                        )
                    finally:
                        copy_conn.close()
            except CalibrationInputError as error:
                raise AirflowFailException(str(error)) from error
            path = steps.run_folder(artifacts_dir(), "snapshots", dag_id, run_id, version) / "labeled_outcomes.npz"
            outcomes.save_snapshot(labeled, path)
            print(f"{params['model_type']}/{version}: {steps.describe_outcomes(labeled)}; snapshot {path}")
            return {**version_plan, "snapshot": str(path), "n": len(labeled)}

        @task(task_display_name="Validate (Great Expectations)", multiple_outputs=False)
        def validate(extracted: dict[str, Any]) -> dict[str, Any]:
            """Run the labeled-outcomes suite; fail without retry on any broken rule."""
            from pathlib import Path

            from airflow.sdk.exceptions import AirflowFailException

            from fraudcal_airflow import calibration_steps as steps
            from fraudcal_airflow.outcomes import load_snapshot
            from fraudcal_airflow.paths import artifacts_dir
            from fraudcal_airflow.validation import validate_outcomes

            dag_id, run_id, params = _run_identity()
            window = steps.CalibrationWindow.from_dict(extracted)
            version = extracted["model_version"]
            docs = steps.run_folder(artifacts_dir(), "data_docs", dag_id, run_id, version)
            report = validate_outcomes(
                load_snapshot(Path(extracted["snapshot"])).to_frame(),
                name=f"{params['model_type']}/{version}",
                min_samples=params["min_samples"],
                window_start=window.start,
                window_end=window.as_of,
                docs_dir=docs,
            )
            print(f"Great Expectations Data Docs: file://{report.data_docs}")
            if not report.success:
                raise AirflowFailException(
                    steps.validation_failure_message(params["model_type"], version, window, report.failures)
                )
            return {**extracted, "validation": report.summary()}

        @task(task_display_name="Compute calibration set", multiple_outputs=False)
        def compute(validated: dict[str, Any]) -> dict[str, Any]:
            """Compute q and k per level, ECE, Brier and the window statistics."""
            from pathlib import Path

            from fraudcal.calibration_set import calibration_set_to_values, compute_calibration_set
            from fraudcal_airflow import calibration_steps as steps
            from fraudcal_airflow.outcomes import load_snapshot

            _, _, params = _run_identity()
            window = steps.CalibrationWindow.from_dict(validated)
            labeled = load_snapshot(Path(validated["snapshot"]))
            calibration_set = compute_calibration_set(
                labeled.probabilities,
                labeled.labels,
                model_type=params["model_type"],
                model_version=validated["model_version"],
                window_start=window.start,
                window_end=window.as_of,
                levels=sorted(params["coverage_levels"]),
                narrow_threshold=params["narrow_threshold"],
                min_samples=params["min_samples"],
                source=params["source"],
            )
            values = calibration_set_to_values(calibration_set)
            values["validation"] = validated["validation"]
            print(f"levels {values['levels']}, calibration_score {values['calibration_score']:.4f}")
            return values

        @task(task_display_name="Record in PostgreSQL", outlets=[CALIBRATION_SETS], multiple_outputs=False)
        def record(values: dict[str, Any]) -> dict[str, Any]:
            """Upsert the set into fraudcal.calibration_sets; emit the Asset event."""
            from fraudcal.calibration_set import calibration_payload, calibration_set_from_values
            from fraudcal_airflow.connections import fraud_db_connection
            from fraudcal_airflow.store import record_calibration_set

            context = get_current_context()
            with fraud_db_connection() as conn:
                row = record_calibration_set(
                    conn, calibration_set_from_values(values), dag_id=context["dag"].dag_id, run_id=context["run_id"]
                )
            payload = calibration_payload(row)
            context["outlet_events"][CALIBRATION_SETS].extra = {
                "model_type": payload["model_type"],
                "model_version": payload["model_version"],
                "as_of": payload["as_of"],
                "calibration_set_id": payload["calibration_set_id"],
            }
            print(f"recorded calibration set id {payload['calibration_set_id']} (as_of {payload['as_of']})")
            return payload

        @task(task_display_name="Publish to Redis")
        def publish(payload: dict[str, Any]) -> str:
            """Publish atomically; never over a newer as_of; keep :previous; announce."""
            from fraudcal_airflow.connections import calibration_redis
            from fraudcal_airflow.publish import live_key, publish_calibration_set

            _, _, params = _run_identity()
            key = live_key(payload["model_type"], payload["model_version"])
            if not params["publish"]:
                print(f"publish=false: {key} left as it is")
                return "not_published"
            outcome = publish_calibration_set(calibration_redis(), payload, params["ttl_hours"])
            print(f"{key}: {outcome.value} (as_of {payload['as_of']})")
            return outcome.value

        publish(record(compute(validate(extract(version_plan)))))

    @task(task_display_name="Repair NULL intervals of the interval's predictions")
    def repair_intervals() -> int:
        """Fill the day's predictions the online service left without an interval.

        Uses the backfill's as-of UPDATE over the data interval, overwrite off: a prediction
        made at t gets the newest set with as_of <= t, so the set this run computes (as_of =
        the interval end) is never used for the interval's own predictions. A version is only
        repaired when the day's own set (as_of = the interval start) exists, so that rows are
        never filled from an older set because the right one is not computed yet; Airflow
        backfill runs skip the repair (history is backfill_prediction_intervals' job).
        """
        from datetime import timedelta

        from fraudcal_airflow import calibration_steps as steps
        from fraudcal_airflow import intervals
        from fraudcal_airflow.connections import fraud_db_connection

        context = get_current_context()
        params = context["params"]
        repair_versions = context["ti"].xcom_pull(task_ids="plan", key="repair_versions")
        if not params["repair"] or context["dag_run"].run_type == "backfill":
            print(
                "repair skipped (repair=false, or an Airflow backfill run: backfill_prediction_intervals fills history)"
            )
            return 0
        if not repair_versions:
            print("nothing to repair (CSV source or no versions)")
            return 0
        time_to = steps.as_of_for_run(context.get("data_interval_end"), context["dag_run"].run_after)
        start = context.get("data_interval_start")
        time_from = steps.plain_utc(start) if start is not None and start < time_to else time_to - timedelta(days=1)
        with fraud_db_connection() as conn:
            ready = intervals.versions_with_set_at(conn, params["model_type"], repair_versions, time_from)
            for version in sorted(set(repair_versions) - set(ready)):
                print(
                    f"{version}: no calibration set with as_of {time_from:%Y-%m-%d %H:%M} yet; its day is left to the backfill"
                )
            if not ready:
                return 0
            request = intervals.BackfillRequest(
                source=params["source"],
                model_type=params["model_type"],
                model_versions=tuple(ready),
                time_from=time_from,
                time_to=time_to,
                coverage_level=params["repair_coverage_level"],
                chunk_size=100_000,
                overwrite=False,
            )
            chunks, rows = intervals.plan_chunks(conn, request)
            written = sum(intervals.apply_chunk(conn, request, chunk) for chunk in chunks)
            unfilled = intervals.unfilled_by_reason(conn, request)
        print(
            f"repaired {written:,} of {rows:,} NULL intervals in [{time_from:%Y-%m-%d %H:%M}, {time_to:%Y-%m-%d %H:%M}); "
            f"still unfilled: {unfilled or 'none'}"
        )
        return written

    planned = plan()
    calibrate_version.expand(version_plan=planned)
    planned >> repair_intervals()


calibrate_fraud_model_dag = calibrate_fraud_model()
