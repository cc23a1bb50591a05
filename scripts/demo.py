"""``make demo``: the whole job on a synthetic XGBoost-scored prediction log.

1. applies the schema (fraudcal's migrations and the dev mirror of the prediction logs);
   if the fraud prediction log is empty, fills it with a seeded synthetic log ending today
   (two model versions, ~3 % fraud, labels arriving with a delay);
2. calibrates the past ``--history-days`` days, as ``airflow backfill create`` would, then
   today, and prints the sets published to Redis and what their intervals really cover;
3. backfills the interval columns of the historical predictions from the sets in force;
4. renders the coverage report to a file and delivers it to a local mail sink (aiosmtpd);
5. monitors a second, drifting model type (``fraud_detector_drifted``: its features shift a
   week ago) and runs ``report_drift``, which mails an ``[ALERT]`` and emits the
   ``fraud_model_retraining_requested`` Asset event;
6. on the way, prints each version's certified triage thresholds (with targets this weak model
   can meet: :data:`DEMO_TRIAGE`) and what they did on the report's days;
7. replays residual, Mondrian, Mondrian + ACI and Venn-Abers' certified triage over the last 60
   days (``replay_methods``) and prints the verdict table.

Every DAG runs with ``dag.test()`` (Airflow's metadata in a throwaway SQLite
``AIRFLOW_HOME``; task logs go to files under ``artifacts/demo``). Services come from
:mod:`fraudcal_dev.services` (``make demo`` wraps this script in ``python -m fraudcal_dev.services run --``).
It writes only to scratch (:mod:`fraudcal_dev.scratch`): a database and a Redis that are not
marked as scratch, nor declared so with ``FRAUDCAL_SCRATCH=1``, are refused before anything runs.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import mailbox
import os
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def prepare_airflow_environment(artifacts: Path) -> Path:
    home = Path(tempfile.mkdtemp(prefix="fraudcal-demo-airflow-"))
    os.environ.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
            "FRAUDCAL_ARTIFACTS_DIR": str(artifacts),
        }
    )
    return home


@contextlib.contextmanager
def output_to(path: Path):
    """Send this process's stdout and stderr (file descriptors 1 and 2) to ``path``."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with path.open("w") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


def class_coverage(snapshot: Path, quantile: float) -> tuple[float, float, float]:
    """Coverage of the interval on the calibration window: overall, legitimate, fraud."""
    from fraudcal.coverage import interval_covers
    from fraudcal_airflow.outcomes import load_snapshot

    outcomes = load_snapshot(snapshot)
    covered = interval_covers(outcomes.probabilities, outcomes.labels, quantile)
    fraud = outcomes.labels == 1
    return float(covered.mean()), float(covered[~fraud].mean()), float(covered[fraud].mean())


def print_methods_side_by_side(db_url: str, report_id: int) -> None:
    """The report's comparison of the methods, each judged with its own set in force."""
    import psycopg

    from fraudcal_airflow.db.sql import load_sql

    with psycopg.connect(db_url) as conn:
        figures = conn.execute(load_sql("report/figures_by_id"), {"id": report_id}).fetchone()[0]
    level, methods = str(figures["level"]), figures.get("methods") or {}
    print(f"\n      the methods side by side on the report's labeled outcomes ({level} %, each with its own set in force):")
    header = f"      {'method':<11} {'frauds covered':>15} {'legitimate covered':>19} {'auto-tickets':>13} {'legitimate':>11} {'reviews':>8}"
    print(header)
    for method in ("residual", "mondrian"):
        figures_of = methods.get(method) or {}
        if not figures_of.get("n"):
            continue
        coverage, tickets = figures_of["coverage"][level], figures_of["automation"]
        fraud, legitimate = coverage["fraud"], coverage["legitimate"]
        print(
            f"      {method:<11} {fraud['rate']:>9.1%} ({fraud['covered']:>4}) {legitimate['rate']:>18.1%} "
            f"{tickets['auto_tickets']:>13,} {tickets['legitimate_auto_tickets']:>11,} {tickets['human_reviews']:>8,}"
        )
    venn_abers = methods.get("venn_abers") or {}
    if venn_abers.get("n"):
        print(
            f"      {'venn_abers':<11} probability ECE {venn_abers['ece_raw']:.4f} (raw score) -> {venn_abers['ece_p']:.4f}; "
            f"mean width of [p0, p1] {venn_abers['mean_width']:.4f}; no auto-tickets (width is data density, not error)"
        )
    recommendation = figures.get("recommendation") or {}
    print(f"      the report recommends: {recommendation.get('method') or 'no method'} ({recommendation.get('reason')})")


#: Triage targets of the demo's calibration runs. This synthetic model's best scores are only
#: about half fraud, so the defaults (95 % precision, 99.9 % NPV) certify nothing on it: the demo
#: prints that, and asks for targets this model can meet (30 % of auto-tickets fraud, 99 % of
#: auto-clears legitimate) so that the certificates have something to show. A real fraud team
#: keeps the defaults, or the targets its operations can live with.
DEMO_TRIAGE = {"ticket_precision": 0.30, "clear_npv": 0.99}


def print_certified_triage(db_url: str, as_of: datetime, snapshots: dict[str, Path]) -> None:
    """Each version's certificates of today's window, and what the default targets would certify."""
    import psycopg

    from fraudcal.defaults import DEFAULT_CLEAR_NPV, DEFAULT_TICKET_PRECISION
    from fraudcal.triage import certify_triage
    from fraudcal_airflow.db.triage import current_at
    from fraudcal_airflow.outcomes import load_snapshot

    print(
        f"\n      certified triage of today's windows (targets: precision {DEMO_TRIAGE['ticket_precision']:.0%} "
        f"of auto-tickets, NPV {DEMO_TRIAGE['clear_npv']:.0%} of auto-clears, 90 % confidence):"
    )
    with psycopg.connect(db_url) as conn:
        for version, snapshot in sorted(snapshots.items()):
            row = current_at(conn, "fraud_detector", version, as_of)
            if row is None:
                print(f"      {version}: no certificate recorded")
                continue
            for side in ("ticket", "clear"):
                certificate = row[side]
                if certificate["certified"]:
                    comparison = "score >=" if side == "ticket" else "score <="
                    said = (
                        f"{comparison} {certificate['threshold']:.4f}: {certificate['n_automated']:,} of "
                        f"{certificate['n_window']:,} window rows, {certificate['n_correct']:,} right "
                        f"(lower bound {certificate['lower_bound']:.3f} vs target {certificate['target']})"
                    )
                else:
                    said = f"not certified ({certificate['reason']})"
                print(f"      {version} {side:<6} {said}")
            print(f"      {version} status {row['status']}: {row['reason']}")
            outcomes = load_snapshot(snapshot)
            defaults = certify_triage(
                outcomes.probabilities,
                outcomes.labels,
                target_precision=DEFAULT_TICKET_PRECISION,
                target_npv=DEFAULT_CLEAR_NPV,
            )
            print(
                f"      {version} with the default targets ({DEFAULT_TICKET_PRECISION:.0%} / {DEFAULT_CLEAR_NPV:.1%}): "
                f"ticket {'certified' if defaults.ticket.certified else 'not certified'}, "
                f"clear {'certified' if defaults.clear.certified else 'not certified'} "
                f"(best ticket lower bound {defaults.ticket.lower_bound or 0:.3f})"
            )


def print_triage_on_held_out_days(db_url: str, report_id: int) -> None:
    """The report's first-screen sentences on the certified triage: each prediction judged by the
    thresholds in force when it was made (certified on earlier days: held out)."""
    import psycopg

    from fraudcal_airflow.db.sql import load_sql
    from fraudcal_airflow.reporting.coverage import triage_lines

    with psycopg.connect(db_url) as conn:
        figures = conn.execute(load_sql("report/figures_by_id"), {"id": report_id}).fetchone()[0]
    print("\n      certified triage on the report's days (each prediction under the thresholds in force when made):")
    for version in figures.get("versions", []):
        for line in triage_lines(version["triage"]) if version.get("triage") else []:
            print(f"      {'[!] ' if line['alarm'] else ''}{line['text']}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=300_000, help="synthetic predictions to generate")
    parser.add_argument("--history-days", type=int, default=14, help="past days to calibrate and backfill")
    args = parser.parse_args()
    from fraudcal_dev.scratch import scratch_refusal

    refusal = scratch_refusal("demo")
    if refusal:
        print(refusal, file=sys.stderr)
        return 2

    artifacts = ROOT / "artifacts" / "demo"
    artifacts.mkdir(parents=True, exist_ok=True)
    prepare_airflow_environment(artifacts)
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    from fraudcal_dev.demo_data import ensure_demo_data  # shared with make airflow
    from fraudcal_dev.mail_sink import local_mail_sink, smtp_connection

    print(f"[1/7] {ensure_demo_data(os.environ['FRAUD_DB_URL'], args.events, today)}")

    import redis
    from airflow.utils import db

    from fraudcal.defaults import DEFAULT_LEVEL, SUPPORTED_LEVELS
    from fraudcal.online import interval_for_score
    from fraudcal_airflow.publish import live_key
    from fraudcal_dev.dagtest import run_dag, task_states, xcom_values

    with output_to(artifacts / "airflow_db.log"):
        db.resetdb()
    started = time.perf_counter()
    history = [today - timedelta(days=offset) for offset in range(args.history_days, 0, -1)]
    with output_to(artifacts / "calibrate_history.log"):
        # As in an Airflow backfill run, the history runs leave intervals to the backfill DAG.
        states = [
            run_dag("calibrate_fraud_model", f"{day:%Y-%m-%d}", {"repair": False, **DEMO_TRIAGE}).state
            for day in history
        ]
    print(
        f"[2/7] calibrated {states.count('success')}/{len(history)} past days "
        f"({history[0]:%Y-%m-%d}..{history[-1]:%Y-%m-%d}) in {time.perf_counter() - started:.0f}s, "
        f"as `airflow backfill create --dag-id calibrate_fraud_model` would"
    )
    log_path = artifacts / "calibrate_fraud_model.log"
    started = time.perf_counter()
    with output_to(log_path):
        dag_run = run_dag("calibrate_fraud_model", f"{today:%Y-%m-%d}", DEMO_TRIAGE)
    print(
        f"[3/7] calibrate_fraud_model for as_of {today:%Y-%m-%d}: {dag_run.state} "
        f"in {time.perf_counter() - started:.0f}s (task log: {log_path})"
    )
    if dag_run.state != "success":
        print(json.dumps(task_states(dag_run), indent=2))
        return 1
    client = redis.Redis.from_url(os.environ["REDIS_URL"])
    extracted = {item["model_version"]: item for item in xcom_values(dag_run, "calibrate_version.validate")}
    outcomes = dict(
        zip(
            [p["model_version"] for p in xcom_values(dag_run, "calibrate_version.record")],
            xcom_values(dag_run, "calibrate_version.publish"),
            strict=True,
        )
    )
    print("      calibration sets published to Redis:\n")
    quantile_names = "".join(f" {'q' + str(level):>7}" for level in SUPPORTED_LEVELS)
    header = f"{'key':<44} {'as_of':<21} {'n':>7} {'fraud':>6}{quantile_names} {'1-ECE':>7}  publish"
    print(header)
    print("-" * len(header))
    payloads = {}
    for version in sorted(outcomes):
        key = live_key("fraud_detector", version)
        payload = json.loads(client.get(key))
        payloads[version] = payload
        quantiles = "".join(f" {payload['levels'][str(level)]['quantile']:>7.4f}" for level in SUPPORTED_LEVELS)
        print(
            f"{key:<44} {payload['as_of']:<21} {payload['n']:>7,} {payload['n_positive']:>6,}"
            f"{quantiles} {payload['calibration_score']:>7.4f}  {outcomes[version]}"
        )
    print(f"\nWhat the {DEFAULT_LEVEL} % intervals cover on their own calibration window (the method's known weakness):")
    for version, payload in payloads.items():
        overall, legitimate, fraud = class_coverage(
            Path(extracted[version]["snapshot"]), payload["levels"][str(DEFAULT_LEVEL)]["quantile"]
        )
        print(f"  {version}: overall {overall:.1%}, legitimate {legitimate:.1%}, confirmed fraud {fraud:.1%}")
    print("\nWhat the online service computes for a score of 0.92 (fraudcal.online.interval_for_score):")
    print("  " + json.dumps(interval_for_score(payloads[sorted(payloads)[0]], 0.92)))
    print_certified_triage(
        os.environ["FRAUD_DB_URL"],
        today,
        {version: Path(item["snapshot"]) for version, item in extracted.items()},
    )
    print(f"\nGreat Expectations Data Docs: {extracted[sorted(extracted)[0]]['validation']['data_docs']}")

    started = time.perf_counter()
    with output_to(artifacts / "backfill_prediction_intervals.log"):
        backfill = run_dag(
            "backfill_prediction_intervals",
            f"{today:%Y-%m-%d}",
            {"date_from": f"{history[0]:%Y-%m-%d}", "date_to": f"{today - timedelta(days=1):%Y-%m-%d}"},
        )
    summary = xcom_values(backfill, "verify")[0] if backfill.state == "success" else {}
    print(
        f"\n[4/7] backfill_prediction_intervals {history[0]:%Y-%m-%d}..{today - timedelta(days=1):%Y-%m-%d}: "
        f"{backfill.state} in {time.perf_counter() - started:.0f}s; {summary.get('rows_written', 0):,} rows filled, "
        f"unfilled {summary.get('unfilled') or 'none'}; sample check: {summary.get('sample', {}).get('mismatch_count')} mismatches"
    )

    maildir = artifacts / "maildir"
    before = len(list(mailbox.Maildir(maildir, create=False))) if (maildir / "new").exists() else 0
    with local_mail_sink(maildir) as port:
        os.environ["AIRFLOW_CONN_SMTP_DEFAULT"] = smtp_connection(port, "fraudcal-demo@localhost")
        started = time.perf_counter()
        with output_to(artifacts / "report_coverage.log"):
            report = run_dag("report_coverage", f"{today:%Y-%m-%d}", {"recipients": ["fraud-ops@example.com"]})
    archived = xcom_values(report, "build_report")[0] if xcom_values(report, "build_report") else {}
    delivered = list(mailbox.Maildir(maildir, create=False))[before:] if (maildir / "new").exists() else []
    print(f"\n[5/7] report_coverage: {report.state} in {time.perf_counter() - started:.0f}s")
    print(f"      subject:   {archived.get('subject')}")
    print(f"      report:    {Path(archived.get('folder', '.')) / 'report.html'}")
    print(f"      delivered: {len(delivered)} new message(s) in the local mail sink {maildir}")
    if archived.get("report_id"):
        print_methods_side_by_side(os.environ["FRAUD_DB_URL"], archived["report_id"])
        print_triage_on_held_out_days(os.environ["FRAUD_DB_URL"], archived["report_id"])

    started = time.perf_counter()
    drift_days = drifting_model_history(os.environ["FRAUD_DB_URL"], today, args.events)
    with local_mail_sink(maildir) as port:
        os.environ["AIRFLOW_CONN_SMTP_DEFAULT"] = smtp_connection(port, "fraudcal-demo@localhost")
        with output_to(artifacts / "report_drift.log"):
            drift = run_dag(
                "report_drift",
                f"{today:%Y-%m-%d}",
                {"model_type": DRIFTING_MODEL, "recipients": ["fraud-ops@example.com"]},
            )
    subject = (xcom_values(drift, "notify") or ["(no alert mail)"])[0]
    retraining = (xcom_values(drift, "request_retraining") or [None])[0]
    print(
        f"\n[6/7] report_drift for {DRIFTING_MODEL} ({drift_days} days of history measured first): {drift.state} "
        f"in {time.perf_counter() - started:.0f}s"
    )
    print(f"      mail:  {subject}")
    print(f"      Asset fraud_model_retraining_requested: {json.dumps(retraining) if retraining else 'not emitted'}")
    started = time.perf_counter()
    replay_days = 60
    with local_mail_sink(maildir) as port:
        os.environ["AIRFLOW_CONN_SMTP_DEFAULT"] = smtp_connection(port, "fraudcal-demo@localhost")
        with output_to(artifacts / "replay_methods.log"):
            replayed = run_dag(
                "replay_methods",
                f"{today:%Y-%m-%d}",
                {
                    "date_from": f"{today - timedelta(days=replay_days):%Y-%m-%d}",
                    "date_to": f"{today - timedelta(days=1):%Y-%m-%d}",
                    "label_maturity_days": "auto",
                    "recipients": ["fraud-ops@example.com"],
                    **DEMO_TRIAGE,
                },
            )
    print(
        f"\n[7/7] replay_methods over the last {replay_days} days (residual, Mondrian, Mondrian + ACI, Venn-Abers "
        f"with certified triage): {replayed.state} in {time.perf_counter() - started:.0f}s"
    )
    if replayed.state == "success":
        print_replay_verdicts(os.environ["FRAUD_DB_URL"], replayed.run_id)
    ok = backfill.state == report.state == drift.state == replayed.state == "success" and delivered and retraining
    return 0 if ok else 1


def _days_met(group: dict | None) -> str:
    return "-" if group is None else f"{group['days_met']}/{group['days_measured']}"


def _rate(value: dict | None) -> str:
    return "-" if not value or value.get("rate") is None else f"{value['rate']:.1%}"


def print_replay_verdicts(db_url: str, run_id: str) -> None:
    """The replay's verdict table per version, read back from fraudcal.replay_daily."""
    import psycopg

    from fraudcal.replay import default_configs, verdict, verdict_sentence
    from fraudcal_airflow.db.replay_daily import rows_of_run

    configs = [config.name for config in default_configs()]
    with psycopg.connect(db_url) as conn:
        rows = rows_of_run(conn, run_id, "fraud_detector", configs)
    for version, part in rows.groupby("model_version"):
        table = verdict(part.drop(columns=["model_version"]), int(part["level"].iloc[0]))
        print(f"\n      {version}: {'method':<34} {'fraud cov. days':>15} {'legit cov. days':>15} {'review':>7} {'ticket precision':>17} {'NPV':>7}")
        for row in table:
            print(
                f"      {'':<{len(version) + 1}} {row['label']:<34} {_days_met(row.get('fraud')):>15} "
                f"{_days_met(row.get('legitimate')):>15} {row['review_share']:>7.1%} "
                f"{_rate(row.get('ticket_precision')):>17} {_rate(row.get('npv')):>7}"
            )
        for row in table:
            print(f"      {verdict_sentence(row)}")


#: A second model type in the demo log whose features shift a week before today.
DRIFTING_MODEL = "fraud_detector_drifted"


def drifting_model_history(db_url: str, today: datetime, events: int) -> int:
    """Load the drifting model's log (once) and measure its past days, as earlier daily runs would."""
    import psycopg
    import psycopg2

    from fraudcal.defaults import DEFAULT_REFERENCE_DAYS
    from fraudcal.drift import DriftThresholds
    from fraudcal.synthetic import SyntheticConfig, generate_prediction_log
    from fraudcal_airflow.db.migrations import apply_migrations
    from fraudcal_airflow.db.sql import load_sql
    from fraudcal_airflow.steps.drift_report import monitor_day
    from fraudcal_dev.synthetic_load import load_prediction_log

    days = 40
    start = today - timedelta(days=days)
    with psycopg.connect(db_url) as conn:
        apply_migrations(conn)
        present = conn.execute(load_sql("dev/count_rows_of_model_type"), {"model_type": DRIFTING_MODEL}).fetchone()[0]
        if not present:
            config = SyntheticConfig(
                n_events=max(events // 2, 60_000),
                start=start,
                days=days,
                model_type=DRIFTING_MODEL,
                drift_day=days - 7,
                covariate_shift=1.0,
                labels_as_of=datetime.now(UTC),
                seed=7,
            )
            load_prediction_log(conn, generate_prediction_log(config))
        copy_conn = psycopg2.connect(db_url)
        measured = 0
        for offset in range(2, days - 1):
            for version in ("v1", "v2"):
                monitor_day(
                    conn,
                    copy_conn,
                    model_type=DRIFTING_MODEL,
                    version=version,
                    day=(start + timedelta(days=offset)).date(),
                    reference_days=DEFAULT_REFERENCE_DAYS,
                    thresholds=DriftThresholds(),
                    run_id="demo-history",
                )
            measured += 1
        copy_conn.close()
    return measured


if __name__ == "__main__":
    sys.exit(main())
