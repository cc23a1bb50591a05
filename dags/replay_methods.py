"""
### Replay the methods: would they have worked on our history?

Manual trigger only. For each model version and each day of the period (default: the last
90 days up to the last labeled day), every selected calibration method (`methods`: residual,
Mondrian, Mondrian + ACI with step `aci_gamma`, Venn-Abers' certified triage) is run **as
production would have run it**: the set of a daily calibration with `as_of` at that day's
midnight, from the `window_days` before it (less the `label_maturity_days` not yet mature),
applied to that day's predictions and judged against their labels.

* **plan** checks the Params (a bad date range or maturity fails at once, before anything is
  written) and resolves versions, period and maturity (`auto`: from the label snapshots).
* **extract**: one binary COPY per version of the predictions the windows and the days need,
  into an `.npz` snapshot in the run's artifacts folder (never XCom).
* **replay**: `fraudcal.replay.replay` once per version, no per-day database round trip; the
  rows go to `fraudcal.replay_daily`, replacing this run's earlier rows in one transaction.
* **build_report** → **send_report**: the verdict in plain words first ("Mondrian + ACI met
  fraud-class coverage on 81 of 90 days at a review load of 6.1 %"), in red where a method
  broke its promise, what the replay assumes (labels as known now: the log has no label
  timestamps), a table per method and charts of daily coverage per class and of review load;
  archived in `fraudcal.report_runs`, then mailed through `smtp_default`.

Steps: `fraudcal_airflow.steps.replay_methods`; contracts: `DESIGN.md` sections 3.2 and 5.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import dag, task

from fraudcal_airflow import params
from fraudcal_airflow.defaults import DEFAULT_ARGS, START_DATE


@dag(
    dag_id="replay_methods",
    dag_display_name="Replay the methods on history",
    description="Would each calibration method have worked? Replay day by day on the history; verdicts by e-mail.",
    doc_md=__doc__,
    schedule=None,
    start_date=START_DATE,
    catchup=False,
    max_active_runs=2,
    default_args=DEFAULT_ARGS,
    tags=["fraudcal", "report", "conformal", "replay"],
    params=params.replay_methods(),
)
def replay_methods():
    @task(task_display_name="Plan: Params, versions, period, maturity")
    def plan() -> dict[str, Any]:
        """Check the Params, apply fraudcal's migrations, resolve versions, period and label maturity."""
        from fraudcal_airflow.runtime import current_run
        from fraudcal_airflow.steps import replay_methods as steps

        run = current_run()
        return steps.plan(run.params, run).as_dict()

    @task(task_display_name="Extract the history (binary COPY)")
    def extract(planned: dict[str, Any]) -> dict[str, Any]:
        """One binary COPY per version into an .npz snapshot in the run's artifacts folder."""
        from fraudcal_airflow.runtime import current_run
        from fraudcal_airflow.steps import replay_methods as steps

        return steps.extract(steps.ReplayPlan.from_dict(planned), current_run()).as_dict()

    @task(task_display_name="Replay every method, day by day")
    def replay(planned: dict[str, Any], extracted: dict[str, Any]) -> dict[str, Any]:
        """fraudcal.replay per version; this run's rows of fraudcal.replay_daily replaced in one transaction."""
        from fraudcal_airflow.runtime import current_run
        from fraudcal_airflow.steps import replay_methods as steps

        return steps.replay(
            steps.ReplayPlan.from_dict(planned), steps.Extracted.from_dict(extracted), current_run()
        ).as_dict()

    @task(task_display_name="Build and archive the report")
    def build_report(planned: dict[str, Any], replayed: dict[str, Any]) -> dict[str, Any]:
        """Verdicts from the stored rows, charts, HTML; archived in fraudcal.report_runs and the artifacts folder."""
        from fraudcal_airflow.paths import run_folder
        from fraudcal_airflow.runtime import current_run
        from fraudcal_airflow.steps import replay_methods as steps

        run = current_run()
        folder = run_folder(steps.REPORTS_KIND, run.dag_id, run.run_id, steps.REPORT_FOLDER)
        return steps.build_report(
            steps.ReplayPlan.from_dict(planned), steps.Replayed.from_dict(replayed), run, folder=folder
        ).as_dict()

    @task(task_display_name="E-mail the report")
    def send_report(archived: dict[str, Any]) -> str:
        """Send the archived report through smtp_default; record when the server accepted it."""
        from fraudcal_airflow.steps import replay_methods as steps

        return steps.send_report(archived)

    planned = plan()
    replayed = replay(planned, extract(planned))
    send_report(build_report(planned, replayed))


replay_methods_dag = replay_methods()
