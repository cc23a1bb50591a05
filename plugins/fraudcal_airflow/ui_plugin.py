"""The "Calibration" page in the Airflow UI: the sets in force, per model version.

An Airflow 3 plugin: a FastAPI app mounted by the api-server at ``/fraudcal`` behind Airflow's
authentication (a bearer token or the UI's session cookie), and an external view in the
"Browse" menu that opens it. For each version: the live set and the one it replaced (from Redis,
as the online service sees them), their age, n, quantiles and calibration_score, and the last
days' coverage from ``fraudcal.model_health_daily``; a stale or missing live set is red.
"""

from __future__ import annotations

from datetime import UTC, datetime

from airflow.api_fastapi.core_api.security import GetUserDep
from airflow.plugins_manager import AirflowPlugin
from fastapi import FastAPI
from fastapi.responses import HTMLResponse

from fraudcal.defaults import DEFAULT_LEVEL, RESIDUAL_METHOD, STALE_AFTER_HOURS, SUPPORTED_LEVELS

app = FastAPI(title="fraudcal calibration")


def _age(payload: dict | None, now: datetime) -> dict | None:
    if payload is None:
        return None
    as_of = datetime.fromisoformat(payload["as_of"].replace("Z", "+00:00"))
    return {**payload, "age_hours": (now - as_of).total_seconds() / 3600}


def page_data(now: datetime | None = None) -> list[dict]:
    """Per version: live and previous payloads with their age, recent coverage, staleness."""
    from fraudcal_airflow.connections import calibration_redis, fraud_db_connection
    from fraudcal_airflow.db.calibration_sets import versions_with_sets
    from fraudcal_airflow.db.model_health import recent_coverage
    from fraudcal_airflow.publish import read_live_payload, read_previous_payload

    now = now or datetime.now(UTC)
    client = calibration_redis()
    versions = []
    with fraud_db_connection() as conn:
        for row in versions_with_sets(conn, RESIDUAL_METHOD):
            model_type, version = row["model_type"], row["model_version"]
            live = _age(read_live_payload(client, model_type, version), now)
            versions.append(
                {
                    "model_type": model_type,
                    "model_version": version,
                    "live": live,
                    "previous": _age(read_previous_payload(client, model_type, version), now),
                    "stale": live is None or live["age_hours"] > STALE_AFTER_HOURS,
                    "coverage": recent_coverage(conn, model_type, version),
                }
            )
    return versions


@app.get("/calibration", response_class=HTMLResponse)
def calibration_page(user: GetUserDep) -> str:
    """The page (authenticated: Airflow's token or session cookie)."""
    from fraudcal_airflow.reporting.render import render_template

    return render_template(
        "calibration_page.html.j2",
        versions=page_data(),
        stale_after_hours=STALE_AFTER_HOURS,
        levels=[str(level) for level in SUPPORTED_LEVELS],
        level=DEFAULT_LEVEL,
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
