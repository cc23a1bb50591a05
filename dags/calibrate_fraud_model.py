"""
### Calibrate the fraud model: daily conformal calibration sets and certified triage

For each model version, the labeled outcomes predicted in the `window_days` before the data
interval end (`as_of`) are **extracted**, **validated** with Great Expectations (Data Docs in
the artifacts folder), turned into one calibration set per method (`methods`: residual,
Mondrian, Venn-Abers, and on request Mondrian + ACI, whose per-class levels adapt to the misses
of matured days, step `aci_gamma`) plus certified **auto-ticket / auto-clear thresholds**
(`ticket_precision`, `clear_npv` at `triage_confidence`), **recorded** in PostgreSQL and
**published** to Redis at `fraudcal:calibration:{model_type}:{model_version}`.

* `label_maturity_days` m: the window keeps its length and ends m days before as_of's date, so
  that only days whose labels are in count (`auto`: m read from the label snapshots, which
  **snapshot_labels** records once a day: the labeled share of each prediction day).

* Idempotent per data interval; an older `as_of` (a backfill) never replaces a newer live set.
* Bad input fails at once with a message naming the value and the rule; nothing is recorded or
  published, and the live set stays as it was.
* New thresholds that would automate more than `triage_jump_factor` x the share of those in
  force wait for an operator: **approve_triage** (Required Actions); meanwhile the new sets are
  live and the thresholds in force stay. **repair_intervals** fills the day's NULL intervals.

Steps: `fraudcal_airflow.steps.calibrate` and `.triage`; contracts: `DESIGN.md` sections 3-5.
"""

from __future__ import annotations

from airflow.providers.standard.operators.hitl import ApprovalOperator
from airflow.sdk import CronDataIntervalTimetable, dag, task, task_group

from fraudcal_airflow import params
from fraudcal_airflow.assets import CALIBRATION_SETS
from fraudcal_airflow.defaults import DEFAULT_ARGS, START_DATE, TRIAGE_RESPONSE_TIMEOUT
from fraudcal_airflow.runtime import MAP_INDEX_TEMPLATE


def _request(of: dict | None = None):
    """The Params as a checked CalibrationRequest, and the run; names a mapped task by its version."""
    from fraudcal_airflow.runtime import current_request
    from fraudcal_airflow.steps.calibrate import CalibrationRequest

    return current_request(CalibrationRequest, map_index_label=of and of["model_version"])


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
    params=params.calibrate_fraud_model(),
)
def calibrate_fraud_model():
    @task(task_display_name="Plan: versions and window")
    def plan() -> list[dict]:
        """Apply fraudcal's migrations, check the Params, fix the window (label maturity), list the versions."""
        from fraudcal_airflow.steps import calibrate

        request, run = _request()
        return [version.as_dict() for version in calibrate.plan(request, run.as_of)]

    @task(task_display_name="Snapshot the labeled share per prediction day")
    def snapshot_labels() -> dict:
        """Record the day's label snapshot of the model type (what label_maturity_days=auto reads)."""
        from fraudcal_airflow.steps import calibrate

        return calibrate.snapshot_labels(*_request()).as_dict()

    @task_group(group_id="calibrate_version", default_args={"map_index_template": MAP_INDEX_TEMPLATE})
    def calibrate_version(version_plan: dict):
        @task(task_display_name="Extract labeled outcomes")
        def extract(version_plan: dict) -> dict:
            """Snapshot the version's labeled outcomes of the window into the artifacts folder."""
            from fraudcal_airflow.steps import calibrate

            request, run = _request(of=version_plan)
            return calibrate.extract(request, calibrate.VersionPlan.from_dict(version_plan), run).as_dict()

        @task(task_display_name="Validate (Great Expectations)")
        def validate(extracted: dict) -> dict:
            """Run the labeled-outcomes suite; fail without retry on any broken rule."""
            from fraudcal_airflow.steps import calibrate

            request, run = _request(of=extracted)
            return calibrate.validate(request, calibrate.Snapshot.from_dict(extracted), run).as_dict()

        @task(task_display_name="Compute calibration sets")
        def compute(validated: dict) -> dict:
            """Compute each selected method's set (residual always), with ECE, Brier and the window statistics."""
            from fraudcal_airflow.steps import calibrate

            return calibrate.compute(_request(of=validated)[0], calibrate.Snapshot.from_dict(validated)).as_dict()

        @task(task_display_name="Record in PostgreSQL", outlets=[CALIBRATION_SETS])
        def record(computed: dict) -> dict:
            """Record each method's set in fraudcal.calibration_sets; emit the Asset event naming them."""
            from fraudcal_airflow.runtime import set_asset_extra
            from fraudcal_airflow.steps import calibrate

            recorded = calibrate.record(computed, *_request(of=computed))
            set_asset_extra(CALIBRATION_SETS, recorded.asset_extra)
            return recorded.as_dict()

        @task(task_display_name="Publish to Redis")
        def publish(recorded: dict) -> str:
            """Publish every method in one payload, atomically; never over a newer as_of; keep :previous."""
            from fraudcal_airflow.steps import calibrate

            return calibrate.publish(_request(of=recorded)[0], recorded)

        publish(record(compute(validate(extract(version_plan)))))

    @task(task_display_name="Repair NULL intervals of the interval's predictions")
    def repair_intervals() -> int:
        """Fill the day's predictions the online service left without an interval (see the step)."""
        from fraudcal_airflow.steps import calibrate

        return calibrate.repair_intervals(*_request())

    @task.short_circuit(task_display_name="Triage jumps to approve", trigger_rule="all_done")
    def triage_jumps() -> str:
        """The operator's question about this run's jumps; empty (skips the approval) when none."""
        from fraudcal_airflow.steps import triage

        return triage.approval_request(_request()[1])

    planned = plan()
    calibrated = calibrate_version.expand(version_plan=planned)
    jumps = triage_jumps()
    approve = ApprovalOperator(
        task_id="approve_triage",
        subject="fraudcal: approve new certified triage thresholds?",
        body=jumps,  # the Markdown table triage_jumps returned
        defaults="Reject",
        response_timeout=TRIAGE_RESPONSE_TIMEOUT,
    )

    @task(task_display_name="Put approved thresholds in force")
    def apply_triage(approval: dict) -> dict:
        """Mark the run's certificates approved and republish the live payloads' triage object."""
        from fraudcal_airflow.steps import triage

        request, run = _request()
        return triage.apply_approved(run, approval, request.ttl_hours).as_dict()

    @task(task_display_name="Close unapproved thresholds", trigger_rule="all_done")
    def close_triage() -> list[str]:
        """Mark what is still pending (rejected, or no answer in time) as rejected."""
        from fraudcal_airflow.steps import triage

        request, run = _request()
        return triage.close_unapproved(run, request.ttl_hours)

    @task(task_display_name="Fail the run if a version failed", trigger_rule="one_failed")
    def any_version_failed() -> None:
        """Keep the run failed when a version failed (triage_jumps runs after failures too)."""
        from fraudcal_airflow.steps import triage

        triage.fail_for_failed_versions()

    planned >> repair_intervals()
    planned >> snapshot_labels()
    calibrated >> jumps
    calibrated >> any_version_failed()
    apply_triage(approve.output) >> close_triage()


calibrate_fraud_model_dag = calibrate_fraud_model()
