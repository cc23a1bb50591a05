"""The Calibration page's app on real PostgreSQL and Redis (Airflow's login replaced by a fixed user).

The e2e tier checks the page behind the real api-server's authentication; these tests check
what it shows and which archived files it serves.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import psycopg
import pytest
from fastapi.testclient import TestClient

from fraudcal.calibration_set import calibration_payload, compute_calibration_set
from fraudcal_airflow.db.calibration_sets import record_calibration_set
from fraudcal_airflow.db.report_runs import upsert_report_run
from fraudcal_airflow.publish import publish_calibration_set


@pytest.fixture
def client(pg, redis_client):
    from airflow.api_fastapi.core_api.security import get_user

    from fraudcal_airflow.ui_plugin import app

    app.dependency_overrides[get_user] = lambda: object()
    yield TestClient(app)
    app.dependency_overrides.clear()


def _record_and_publish(db_url: str, redis_client) -> dict:
    rng = np.random.default_rng(0)
    p = rng.random(400) * 0.3
    y = rng.random(400) < 0.03
    as_of = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    calibration_set = compute_calibration_set(
        p, y, model_type="fraud_detector", model_version="v1", window_start=as_of - timedelta(days=30), window_end=as_of
    )
    with psycopg.connect(db_url) as conn:
        payload = calibration_payload(record_calibration_set(conn, calibration_set, dag_id="d", run_id="r"))
    publish_calibration_set(redis_client, payload, ttl_hours=36)
    return payload


def _archive(db_url: str, html_path: Path, run_id: str) -> int:
    from psycopg.types.json import Jsonb

    with psycopg.connect(db_url) as conn:
        return upsert_report_run(
            conn,
            {
                "report_type": "coverage",
                "dag_id": "report_coverage",
                "run_id": run_id,
                "model_type": "fraud_detector",
                "model_versions": ["v1"],
                "date_from": None,
                "date_to": None,
                "status": "red",
                "subject": f"[RED] report {run_id}",
                "recipients": ["a@example.com"],
                "html_path": str(html_path),
                "figures": Jsonb({}),
            },
        )


def test_the_page_shows_the_live_set_explains_calibration_score_and_links_the_latest_report(client, db_url, redis_client):
    payload = _record_and_publish(db_url, redis_client)
    folder = Path(os.environ["FRAUDCAL_ARTIFACTS_DIR"]) / "reports" / "ui-test"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "report.html").write_text("<html><body>the archived report</body></html>")
    report_id = _archive(db_url, folder / "report.html", "ui-1")

    page = client.get("/calibration")
    assert page.status_code == 200
    html = page.text
    assert "fraud_detector / v1" in html and payload["as_of"] in html
    assert f"{payload['levels']['90']['quantile']:.4f}" in html
    assert "says nothing about whether the intervals contain the" in html  # calibration_score explained
    assert f'href="reports/{report_id}"' in html and "[RED] report ui-1" in html
    assert ':root[data-theme="dark"]' in html and 'chakra-ui-color-mode' in html  # follows Airflow's theme

    served = client.get(f"/reports/{report_id}")
    assert served.status_code == 200 and "the archived report" in served.text
    assert client.get("/", follow_redirects=False).headers["location"].endswith("/calibration")


def test_only_archived_files_inside_the_artifacts_folder_are_served(client, db_url, tmp_path):
    outside = tmp_path / "secret.html"
    outside.write_text("not for the UI")
    report_id = _archive(db_url, outside, "ui-outside")
    assert client.get(f"/reports/{report_id}").status_code == 404
    assert client.get("/reports/987654321").status_code == 404
