"""The "Calibration" page in the Airflow UI: the sets in force, per model version.

An Airflow 3 plugin: a FastAPI app mounted by the api-server at ``/fraudcal`` behind Airflow's
authentication (a bearer token or the UI's session cookie), and an external view in the
"Browse" menu that opens it. For each version: the live set and the one it replaced (from Redis,
as the online service sees them), their age, n, quantiles and calibration_score, and the last
days' coverage from ``fraudcal.model_health_daily``; a stale or missing live set is red.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from airflow.api_fastapi.core_api.security import GetUserDep
from airflow.plugins_manager import AirflowPlugin
from fastapi import FastAPI
from fastapi.responses import HTMLResponse

STALE_AFTER_HOURS = 36

app = FastAPI(title="fraudcal calibration")


def _age(payload: dict | None, now: datetime) -> dict | None:
    if payload is None:
        return None
    as_of = datetime.fromisoformat(payload["as_of"].replace("Z", "+00:00"))
    return {**payload, "age_hours": (now - as_of).total_seconds() / 3600}


def page_data(now: datetime | None = None) -> list[dict]:
    """Per version: live and previous payloads with their age, recent coverage, staleness."""
    from psycopg.rows import dict_row

    from fraudcal_airflow.connections import calibration_redis, fraud_db_connection
    from fraudcal_airflow.publish import previous_key, read_live_payload
    from fraudcal_airflow.sql import load_sql

    now = now or datetime.now(UTC)
    client = calibration_redis()
    versions = []
    with fraud_db_connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        for row in cur.execute(load_sql("ui/versions_with_sets")).fetchall():
            model_type, version = row["model_type"], row["model_version"]
            previous_raw = client.get(previous_key(model_type, version))
            live = _age(read_live_payload(client, model_type, version), now)
            coverage = []
            if cur.execute(load_sql("ui/health_table_exists")).fetchone()["present"]:
                coverage = cur.execute(
                    load_sql("ui/recent_coverage"), {"model_type": model_type, "model_version": version}
                ).fetchall()
            versions.append(
                {
                    "model_type": model_type,
                    "model_version": version,
                    "live": live,
                    "previous": _age(json.loads(previous_raw) if previous_raw else None, now),
                    "stale": live is None or live["age_hours"] > STALE_AFTER_HOURS,
                    "coverage": coverage,
                }
            )
    return versions


@app.get("/calibration", response_class=HTMLResponse)
def calibration_page(user: GetUserDep) -> str:
    """The page (authenticated: Airflow's token or session cookie)."""
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    from fraudcal_airflow.paths import TEMPLATES_DIR

    environment = Environment(loader=FileSystemLoader(TEMPLATES_DIR), autoescape=select_autoescape(["html", "j2"]))
    return environment.get_template("calibration_page.html.j2").render(
        versions=page_data(), stale_after_hours=STALE_AFTER_HOURS
    )


class FraudcalCalibrationPlugin(AirflowPlugin):
    """Registers the page and its menu entry."""

    name = "fraudcal_calibration"
    fastapi_apps = [{"app": app, "url_prefix": "/fraudcal", "name": "fraudcal calibration"}]
    external_views = [
        {
            "name": "Calibration",
            "href": "/fraudcal/calibration",
            "destination": "nav",
            "category": "browse",
            "url_route": "fraudcal-calibration",
        }
    ]
