"""docker-compose.yaml agrees with the code: connection ids, service hosts, mounted folders.

Docker does not run here; ``docker compose config`` is left to machines that have it.
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlsplit

import yaml

from fraudcal_airflow.connections import CALIBRATION_REDIS_CONN_ID, FRAUD_DB_CONN_ID, SMTP_CONN_ID

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yaml").read_text())
AIRFLOW_SERVICES = ["airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer"]


def environment(service: str) -> dict[str, str]:
    return COMPOSE["services"][service]["environment"]


def host_of(value: str) -> str:
    if value.startswith("{"):
        return json.loads(value)["host"]
    return urlsplit(value).hostname


def test_every_connection_the_code_uses_is_set_and_points_at_a_service():
    for service in AIRFLOW_SERVICES:
        env = environment(service)
        for conn_id in (FRAUD_DB_CONN_ID, CALIBRATION_REDIS_CONN_ID, SMTP_CONN_ID):
            value = env[f"AIRFLOW_CONN_{conn_id.upper()}"]
            assert host_of(value) in COMPOSE["services"], (service, conn_id, value)


def test_prediction_log_has_its_own_database_and_calibration_redis_its_own_service():
    env = environment("airflow-scheduler")
    assert urlsplit(env["AIRFLOW_CONN_FRAUD_DB"]).path == "/fraud"
    assert "/airflow" in env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    assert "CREATE DATABASE fraud" in (ROOT / "docker" / "postgres-init.sql").read_text()
    assert host_of(env["AIRFLOW_CONN_CALIBRATION_REDIS"]) == "calibration-redis"


def test_code_folders_are_mounted_and_on_the_python_path():
    for service in AIRFLOW_SERVICES:
        mounts = {volume.split(":")[0]: volume.split(":")[1] for volume in COMPOSE["services"][service]["volumes"]}
        for folder in ("./dags", "./plugins", "./include"):
            assert folder in mounts and (ROOT / folder).is_dir()
        assert environment(service)["PYTHONPATH"] == "/opt/airflow/include:/opt/airflow/plugins"
        assert environment(service)["AIRFLOW__CORE__LOAD_EXAMPLES"] == "false"
    assert "requirements.txt" in (ROOT / "Dockerfile").read_text()


def test_every_service_has_a_healthcheck_and_airflow_waits_for_its_dependencies():
    for name, service in COMPOSE["services"].items():
        if name != "airflow-init":
            assert "healthcheck" in service, name
    for name in AIRFLOW_SERVICES:
        depends = COMPOSE["services"][name]["depends_on"]
        assert depends["postgres"]["condition"] == "service_healthy"
        assert depends["airflow-init"]["condition"] == "service_completed_successfully"
