"""The "Calibration" page in the Airflow UI: the sets in force, per model version.

An Airflow 3 plugin: a FastAPI app mounted by the api-server at ``/fraudcal`` behind Airflow's
authentication (a bearer token or the UI's session cookie), and an external view in the
"Browse" menu that opens it. ``/fraudcal/calibration`` (``/fraudcal`` redirects there) shows, for
each version: the live set and the one it replaced (from Redis, as the online service sees
them), their age, n, quantiles and calibration_score, the last days' coverage from
``fraudcal.model_health_daily``, and a link to its latest coverage report, served from the
archive at ``/fraudcal/reports/{id}``. A stale or missing live set and a fraud coverage below
target are red. The page follows Airflow's light or dark theme.
"""

from __future__ import annotations

from datetime import UTC, datetime

from airflow.api_fastapi.core_api.security import GetUserDep
from airflow.plugins_manager import AirflowPlugin
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from fraudcal.defaults import DEFAULT_LEVEL, RESIDUAL_METHOD, STALE_AFTER_HOURS, SUPPORTED_LEVELS

app = FastAPI(title="fraudcal calibration")


def _age(payload: dict | None, now: datetime) -> dict | None:
    if payload is None:
        return None
    as_of = datetime.fromisoformat(payload["as_of"].replace("Z", "+00:00"))
    return {**payload, "age_hours": (now - as_of).total_seconds() / 3600}


def page_data(now: datetime | None = None) -> list[dict]:
    """Per version: live and previous payloads with their age, recent coverage, staleness, latest report."""
    from fraudcal_airflow.connections import calibration_redis, fraud_db_connection
    from fraudcal_airflow.db.calibration_sets import versions_with_sets
    from fraudcal_airflow.db.model_health import recent_coverage
    from fraudcal_airflow.db.report_runs import latest_reports
    from fraudcal_airflow.publish import read_live_payload, read_previous_payload

    now = now or datetime.now(UTC)
    client = calibration_redis()
    versions = []
    with fraud_db_connection() as conn:
        reports = latest_reports(conn)
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
                    "report": reports.get((model_type, version)),
                }
            )
    return versions


@app.get("/", include_in_schema=False)
def index(request: Request, user: GetUserDep) -> RedirectResponse:
    """``/fraudcal`` opens the page."""
    return RedirectResponse(url=str(request.url_for("calibration_page")))


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


@app.get("/reports/{report_id}", response_class=HTMLResponse)
def archived_report(report_id: int, user: GetUserDep) -> str:
    """An archived report as a browser shows it (the file ``html_path`` names, inside the artifacts folder)."""
    from pathlib import Path

    from fastapi import HTTPException

    from fraudcal_airflow.connections import fraud_db_connection
    from fraudcal_airflow.db.report_runs import report_by_id
    from fraudcal_airflow.paths import artifacts_dir

    with fraud_db_connection() as conn:
        row = report_by_id(conn, report_id)
    if row is None:
        raise HTTPException(status_code=404, detail=f"no archived report with id {report_id}")
    path = Path(row["html_path"]).resolve()
    if artifacts_dir() not in path.parents or not path.is_file():
        raise HTTPException(status_code=404, detail=f"report {report_id}'s file is not in the artifacts folder")
    return path.read_text(encoding="utf-8")


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
