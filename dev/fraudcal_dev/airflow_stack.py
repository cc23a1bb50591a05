"""A real local Airflow 3 (no Docker) over this project's DAGs: ``make airflow``'s stack.

api-server, scheduler, dag-processor and triggerer, with Airflow's metadata in its own PostgreSQL
database (``fraudcal_airflow``) on the server of the prediction log. :func:`running_airflow`
starts them, yields once all are healthy, and stops every process it started on exit;
``scripts/airflow_local.py`` (``make airflow``) and the end-to-end tests start the stack through it.

Executors: LocalExecutor by default; ``celery_workers=N`` (``make airflow-celery``) runs the
CeleryExecutor instead, the way a deployment grows beyond one machine: a private ``redis-server``
as the broker (never the calibration Redis the online service reads), Celery's result backend in
the metadata database, and N workers. Each worker runs in its own UTS namespace with its own
hostname (``fraudcal-worker-1`` ...), as it would on its own machine, so Airflow records which
worker ran each task instance.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from fraudcal_dev import services
from fraudcal_dev.services import free_port

#: The checkout: ``<root>/dev/fraudcal_dev/airflow_stack.py``.
ROOT = Path(__file__).resolve().parents[2]

COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
ADMIN_USER = "admin"
WORKER_HOSTNAME = "fraudcal-worker-{number}"


@dataclass(frozen=True)
class LocalAirflow:
    """Where the running stack answers, and how to log in."""

    url: str
    username: str
    password: str
    home: Path
    worker_hostnames: tuple[str, ...] = ()
    broker_url: str = ""

    def token(self) -> str:
        """A JWT for the REST API (``POST /auth/token``)."""
        request = urllib.request.Request(
            f"{self.url}/auth/token",
            method="POST",
            headers={"Content-Type": "application/json"},
            data=json.dumps({"username": self.username, "password": self.password}).encode(),
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())["access_token"]


def metadata_url(fraud_db_url: str, database: str) -> str:
    """SQLAlchemy URL of Airflow's own database on the prediction log's server (created and
    marked as scratch when missing; an existing one without the mark is refused)."""
    url = services.ensure_database(fraud_db_url, database, what="the local Airflow's metadata")
    return url.replace("postgresql://", "postgresql+psycopg2://", 1)


def airflow_environment(home: Path, port: int, sql_alchemy_conn: str, password_file: Path) -> dict[str, str]:
    from cryptography.fernet import Fernet

    url = f"http://127.0.0.1:{port}"
    return {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": sql_alchemy_conn,
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__BASE_URL": url,
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{url}/execution/",
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
        "AIRFLOW__CORE__FERNET_KEY": Fernet.generate_key().decode(),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN_USER}:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(password_file),
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "AIRFLOW__SCHEDULER__MIN_FILE_PROCESS_INTERVAL": "5",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "FRAUDCAL_ARTIFACTS_DIR": str(artifacts_dir()),
    }


def artifacts_dir() -> Path:
    """``FRAUDCAL_ARTIFACTS_DIR``, else ``artifacts/airflow``: snapshots, reports, the maildir."""
    return Path(os.environ.get("FRAUDCAL_ARTIFACTS_DIR", str(ROOT / "artifacts" / "airflow")))


def celery_environment(env: dict[str, str], broker_url: str, sql_alchemy_conn: str) -> dict[str, str]:
    """The CeleryExecutor on top of :func:`airflow_environment`."""
    return {
        **env,
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__CELERY__BROKER_URL": broker_url,
        # Celery's SQLAlchemy result backend, in Airflow's own database.
        "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + sql_alchemy_conn,
        # One task at a time per worker: with two workers, two chunks run on two "machines".
        "AIRFLOW__CELERY__WORKER_CONCURRENCY": "1",
    }


def uts_namespace_command() -> list[str]:
    """The ``unshare`` prefix that gives a process a hostname of its own; fails clearly if none can.

    Root needs only a UTS namespace; other users get it inside a user namespace, which some
    hosts forbid (Docker's default seccomp profile, Ubuntu's AppArmor restriction).
    """
    unshare = ["unshare", "--uts"] if os.geteuid() == 0 else ["unshare", "--user", "--map-root-user", "--uts"]
    probe = subprocess.run([*unshare, "true"], capture_output=True, text=True)
    if probe.returncode != 0:
        raise RuntimeError(
            f"Celery workers need a UTS namespace of their own (`{' '.join(unshare)}`), which this "
            f"host refuses: {probe.stderr.strip() or probe.returncode}. Use `make airflow` (LocalExecutor)."
        )
    return unshare


def worker_command(unshare: list[str], airflow: str, hostname: str) -> list[str]:
    """``airflow celery worker`` in its own UTS namespace, named ``hostname``.

    Airflow records ``socket.getfqdn()`` of the process that ran a task instance; a hostname of
    its own per worker is what tells two workers on one machine apart, as separate machines
    would be.
    """
    set_hostname_then_exec = 'hostname "$0" && exec "$@"'
    return [
        *unshare,
        "sh",
        "-c",
        set_hostname_then_exec,
        hostname,
        airflow,
        "celery",
        "worker",
        "--celery-hostname",
        f"{hostname}@%h",
    ]


def celery_workers_ready(broker_url: str, hostnames: tuple[str, ...]) -> bool:
    """Whether every worker answers a Celery ping over the broker."""
    from celery import Celery

    app = Celery(broker=broker_url)
    try:
        replies = app.control.ping(timeout=1.0) or []
    except OSError:
        return False
    finally:
        app.close()
    answered = {name.split("@", 1)[0] for reply in replies for name in reply}
    return set(hostnames) <= answered


def healthy(url: str) -> bool:
    with contextlib.suppress(OSError, ValueError):
        with urllib.request.urlopen(f"{url}/api/v2/monitor/health", timeout=5) as response:
            health = json.loads(response.read())
        parts = ("metadatabase", "scheduler", "dag_processor", "triggerer")
        return all(health.get(part, {}).get("status") == "healthy" for part in parts)
    return False


def stop_all(processes: list[subprocess.Popen], grace_seconds: float = 30) -> None:
    """Stop every process started here and every process they started, gracefully first.

    SIGTERM goes to each started process only, as an init system would send it: the Celery
    worker then shuts down warm (its running task finishes) and the scheduler stops its own
    workers. Airflow runs each task and each DAG-file parse in a process group of its own,
    which can outlive a parent that dies first; so the process trees are watched while they
    stop, and whatever of them is still alive after ``grace_seconds`` gets SIGTERM, then SIGKILL.
    """
    import psutil

    tops = []
    for process in processes:
        with contextlib.suppress(psutil.Error):
            tops.append(psutil.Process(process.pid))  # before it can exit and its pid be reused
    seen: dict[int, psutil.Process] = {}

    def watch() -> None:
        for top in tops:
            with contextlib.suppress(psutil.Error):
                for member in (top, *top.children(recursive=True)):
                    seen.setdefault(member.pid, member)

    watch()
    for process in processes:
        with contextlib.suppress(ProcessLookupError):
            process.terminate()
    deadline = time.monotonic() + grace_seconds
    while time.monotonic() < deadline and any(process.poll() is None for process in processes):
        watch()
        time.sleep(0.2)

    def alive(member: psutil.Process) -> bool:
        # is_running() compares creation times, so a recycled pid is never signalled; a zombie
        # has exited already and only waits for its parent (or init) to collect it.
        with contextlib.suppress(psutil.Error):
            return member.is_running() and member.status() != psutil.STATUS_ZOMBIE
        return False

    survivors = [member for member in seen.values() if alive(member)]
    for member in survivors:
        with contextlib.suppress(psutil.Error):
            member.terminate()
    _, still_alive = psutil.wait_procs(survivors, timeout=10)
    for member in still_alive:
        with contextlib.suppress(psutil.Error):
            member.kill()
    psutil.wait_procs(still_alive, timeout=10)
    for process in processes:
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=10)


@contextlib.contextmanager
def interrupts_ignored() -> Iterator[None]:
    """Ignore SIGINT and SIGTERM (main thread only) while cleaning up: a second Ctrl-C must not
    cut the shutdown short and leave processes behind."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {signum: signal.signal(signum, signal.SIG_IGN) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def admin_password(home: Path, requested: str | None = None) -> str:
    """The admin password of the stack whose ``AIRFLOW_HOME`` is ``home``.

    ``requested`` (``make airflow AIRFLOW_PASSWORD=...``) is used and saved; without it the
    password saved by an earlier start is reused, and only a first start generates one. It is
    kept in ``home/passwords.json``, the Simple auth manager's file.
    """
    password_file = home / "passwords.json"
    saved = json.loads(password_file.read_text()).get(ADMIN_USER) if password_file.is_file() else None
    password = requested or saved or secrets.token_urlsafe(12)
    if password != saved:
        home.mkdir(parents=True, exist_ok=True)
        password_file.write_text(json.dumps({ADMIN_USER: password}))
        password_file.chmod(0o600)
    return password


def api_port(requested: int | None) -> int:
    """The api-server's port: ``requested`` (``make airflow AIRFLOW_PORT=...``) when free, else a free one.

    Raises
    ------
    RuntimeError
        When the requested port is taken, naming the variable that picks another.
    """
    if requested is None:
        return free_port()
    if services.answers("127.0.0.1", requested):
        raise RuntimeError(
            f"port {requested} is in use on 127.0.0.1: stop what runs there, or pick another with "
            f"make airflow AIRFLOW_PORT=<port>"
        )
    return requested


@contextlib.contextmanager
def running_airflow(
    metadata_database: str = "fraudcal_airflow",
    startup_timeout: float = 240,
    celery_workers: int = 0,
    home: Path | None = None,
    port: int | None = None,
    password: str | None = None,
) -> Iterator[LocalAirflow]:
    """Start the four components (and ``celery_workers`` Celery workers); yield once all are up.

    ``home`` is the ``AIRFLOW_HOME`` (a new temporary folder by default; ``make airflow`` keeps
    it in ``artifacts/airflow/home`` and reuses it); its ``logs/`` folder holds every
    component's log, also when startup fails. ``port`` fixes the api-server's port (a free one
    by default), ``password`` the admin's (else the one saved in ``home``, else a new one: see
    :func:`admin_password`). On exit every process started here is stopped (:func:`stop_all`),
    the broker last, with further interrupts ignored meanwhile.

    Raises
    ------
    fraudcal_dev.scratch.NotScratchError
        Before anything starts, if ``FRAUD_DB_URL`` or ``REDIS_URL`` (which the DAGs write) is
        not scratch, or if ``metadata_database`` exists without the scratch mark.
    """
    from fraudcal_dev.scratch import require_scratch_services

    require_scratch_services(os.environ["FRAUD_DB_URL"], os.environ.get("REDIS_URL"))
    home = home or Path(tempfile.mkdtemp(prefix="fraudcal-airflow-"))
    logs = home / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    password = admin_password(home, password)
    sql_alchemy_conn = metadata_url(os.environ["FRAUD_DB_URL"], metadata_database)
    env = airflow_environment(home, api_port(port), sql_alchemy_conn, home / "passwords.json")
    airflow = str(Path(sys.executable).parent / "airflow")
    hostnames = tuple(WORKER_HOSTNAME.format(number=number) for number in range(1, celery_workers + 1))
    processes: list[subprocess.Popen] = []

    def start(name: str, command: list[str], process_env: dict[str, str]) -> None:
        with (logs / f"{name}.log").open("w") as log:
            processes.append(
                subprocess.Popen(
                    command,
                    env=process_env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,
                )
            )

    stack = contextlib.ExitStack()
    try:
        broker_url = ""
        if hostnames:
            unshare = uts_namespace_command()
            broker_folder = home / "celery-broker"
            broker_folder.mkdir(exist_ok=True)
            broker_url = stack.enter_context(services.throwaway_redis(broker_folder, logs / "celery-broker.log"))
            env = celery_environment(env, broker_url, sql_alchemy_conn)
        with (logs / "db-migrate.log").open("w") as log:
            subprocess.run([airflow, "db", "migrate"], env=env, check=True, stdout=log, stderr=subprocess.STDOUT)
        stack.callback(stop_all, processes)
        for component in COMPONENTS:
            start(component, [airflow, component], env)
        for hostname in hostnames:
            # Each worker serves its task logs on a port of its own: they share one network.
            log_port = {"AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port())}
            start(hostname, worker_command(unshare, airflow, hostname), {**env, **log_port})
        url = env["AIRFLOW__API__BASE_URL"]
        deadline = time.monotonic() + startup_timeout
        while not (healthy(url) and (not hostnames or celery_workers_ready(broker_url, hostnames))):
            if time.monotonic() > deadline or any(process.poll() is not None for process in processes):
                raise RuntimeError(f"local Airflow did not become healthy; logs in {logs}")
            time.sleep(2)
        yield LocalAirflow(
            url=url,
            username=ADMIN_USER,
            password=password,
            home=home,
            worker_hostnames=hostnames,
            broker_url=broker_url,
        )
    finally:
        with interrupts_ignored():
            stack.close()

