"""``make airflow``: a real local Airflow 3 (no Docker) over this project's DAGs, until Ctrl-C.

The stack is :func:`fraudcal_dev.airflow_stack.running_airflow` (api-server, scheduler,
dag-processor and triggerer; ``--celery-workers N``, as ``make airflow-celery`` does, for the
CeleryExecutor with a private broker and N workers). Before it starts, the schema is applied and
an empty prediction log gets the demo's synthetic one (:mod:`fraudcal_dev.demo_data`; a log that
holds rows is used as it is). Without ``AIRFLOW_CONN_SMTP_DEFAULT``, the reports go to a local
mail sink (aiosmtpd, a Maildir under ``artifacts/airflow/maildir``, or
``$FRAUDCAL_ARTIFACTS_DIR/maildir``). Prints the URL and login, and stops every process it
started on Ctrl-C. Its DAGs write into the prediction log and publish to Redis, so both must be
scratch (:mod:`fraudcal_dev.scratch`); anything else is refused before anything starts.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
from datetime import UTC, datetime
from pathlib import Path

from fraudcal_dev.airflow_stack import artifacts_dir, running_airflow


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--celery-workers",
        type=int,
        default=0,
        metavar="N",
        help="run the CeleryExecutor with N Celery workers (default 0: the LocalExecutor)",
    )
    parser.add_argument(
        "--metadata-database",
        default="fraudcal_airflow",
        help="Airflow's own database, created on the prediction log's server (default: fraudcal_airflow)",
    )
    parser.add_argument(
        "--events",
        type=int,
        default=300_000,
        help="synthetic predictions to load when the prediction log is empty (default 300000)",
    )
    parser.add_argument("--no-demo-data", action="store_true", help="leave an empty prediction log empty")
    parser.add_argument(
        "--port",
        type=int,
        default=int(os.environ["AIRFLOW_PORT"]) if os.environ.get("AIRFLOW_PORT") else None,
        help="the api-server's port (AIRFLOW_PORT; default: a free one)",
    )
    parser.add_argument(
        "--home",
        default=None,
        help="AIRFLOW_HOME, kept and reused across starts (default: <artifacts>/home)",
    )
    args = parser.parse_args(argv)
    if args.celery_workers < 0:
        parser.error(f"--celery-workers must be 0 or more, got {args.celery_workers}")
    if args.events < 1:
        parser.error(f"--events must be positive, got {args.events}")
    from fraudcal_dev.scratch import scratch_refusal

    refusal = scratch_refusal("airflow")
    if refusal:
        print(refusal, file=sys.stderr)
        return 2
    signal.signal(signal.SIGINT, stop_once)
    signal.signal(signal.SIGTERM, stop_once)
    try:
        from fraudcal_dev.demo_data import apply_schema, ensure_demo_data

        if args.no_demo_data:
            apply_schema(os.environ["FRAUD_DB_URL"])
        else:
            today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
            print(f"demo data: {ensure_demo_data(os.environ['FRAUD_DB_URL'], args.events, today)}", flush=True)
        with contextlib.ExitStack() as stack:
            if "AIRFLOW_CONN_SMTP_DEFAULT" not in os.environ:
                from fraudcal_dev.mail_sink import local_mail_sink, smtp_connection

                maildir = artifacts_dir() / "maildir"
                port = stack.enter_context(local_mail_sink(maildir))
                os.environ["AIRFLOW_CONN_SMTP_DEFAULT"] = smtp_connection(port, "fraudcal@localhost")
                print(f"mail: reports go to the local mail sink {maildir} (a Maildir)", flush=True)
            serve(args)
    except KeyboardInterrupt:
        pass
    print("stopped")
    return 0


def serve(args: argparse.Namespace) -> None:
    """Run the stack until Ctrl-C or SIGTERM (:func:`stop_once` raises KeyboardInterrupt)."""
    home = Path(args.home) if args.home else artifacts_dir() / "home"
    with running_airflow(
        metadata_database=args.metadata_database,
        celery_workers=args.celery_workers,
        home=home,
        port=args.port,
        password=os.environ.get("AIRFLOW_PASSWORD") or None,
    ) as airflow:
        print(f"Airflow is up: {airflow.url}  (login {airflow.username} / {airflow.password})")
        if airflow.worker_hostnames:
            print(f"CeleryExecutor with workers {', '.join(airflow.worker_hostnames)}")
        print(f"logs: {airflow.home / 'logs'}; Ctrl-C stops every component", flush=True)
        while True:
            signal.pause()


def stop_once(signum: int, frame) -> None:
    """Ctrl-C or SIGTERM, at any moment: unwind (stopping everything started so far), once.

    Further signals are ignored, so that a second Ctrl-C cannot cut the shutdown short and leave
    processes behind.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    print("stopping every component ...", flush=True)
    raise KeyboardInterrupt


if __name__ == "__main__":
    sys.exit(main())
