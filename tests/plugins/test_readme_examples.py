"""The README's examples, run as written: the payload a service parses and the view over an existing log."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import psycopg
import pytest

ROOT = Path(__file__).resolve().parents[2]


def readme_block(marker: str, language: str) -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return text.split(f"<!-- {marker}", 1)[1].split(f"```{language}\n", 1)[1].split("```", 1)[0]


def test_the_payload_example_has_the_fields_and_types_of_a_real_payload(pg, db_url):
    from fraudcal.calibration_set import calibration_payload, compute_calibration_set
    from fraudcal.mondrian import compute_mondrian
    from fraudcal.online import decide, load
    from fraudcal.payload import canonical_json, payload_v2
    from fraudcal.triage import certify_triage
    from fraudcal.venn_abers import fit_venn_abers
    from fraudcal_airflow.db.calibration_sets import record_calibration_set

    example = json.loads(readme_block("payload-example", "json"))
    rng = np.random.default_rng(0)
    p = rng.random(2000) * 0.4
    y = rng.random(2000) < p
    as_of = datetime(2026, 12, 2, tzinfo=UTC)
    calibration_set = compute_calibration_set(
        p, y, model_type="fraud_detector", model_version="v1", window_start=as_of - timedelta(days=30), window_end=as_of
    )
    with psycopg.connect(db_url) as conn:
        residual = calibration_payload(record_calibration_set(conn, calibration_set, dag_id="d", run_id="r"))
    # the triage object as the publish step writes it: certificates of a window where both sides certify
    scores = 1 / (1 + np.exp(-(-6.5 + 3.5 * rng.standard_normal(40_000))))
    certificates = certify_triage(scores, rng.random(40_000) < scores).to_dict()
    triage = {**certificates, "as_of": "2026-12-01T00:00:00Z", "pending": None}
    real, _ = payload_v2(residual, compute_mondrian(p, y), fit_venn_abers(p, y), "mondrian", triage=triage)

    def shape(value):
        """The JSON shape: keys and types, with the README's abridged lists and levels allowed."""
        if isinstance(value, dict):
            return {key: shape(item) for key, item in value.items() if key not in ("95", "99")}
        return "list" if isinstance(value, list) else type(value).__name__

    assert shape(example) == shape(real)
    # the README's rules, read off its own example, agree with the reference reader
    view = load({"fraudcal:calibration:fraud_detector:v1": canonical_json(example)}.get, "fraud_detector", "v1")
    q = example["levels"]["90"]["quantile"]
    assert view.interval(0.92)["lower_bound"] == pytest.approx(max(0.0, 0.92 - q))
    assert view.label_set(0.9) == [1] and view.label_set(0.05) == [0] and view.label_set(0.1) == []
    ticket, clear = example["triage"]["ticket"]["threshold"], example["triage"]["clear"]["threshold"]
    assert [decide(view, score)["action"] for score in (ticket, (ticket + clear) / 2, clear)] == ["ticket", "review", "clear"]
    assert view.venn_abers(0.5) == pytest.approx({"p0": 0.4167, "p1": 1.0, "p": 1.0 / (1 - 0.4167 + 1.0), "width": 1 - 0.4167})


APPLICATION_TABLE = """
CREATE SCHEMA app;
CREATE TABLE app.fraud_scores (
    event_id bigserial PRIMARY KEY, model_name text NOT NULL, model_release text NOT NULL,
    scored_at timestamptz NOT NULL, score double precision, risk_band text, confirmed_fraud boolean,
    ci_lower double precision, ci_upper double precision, ci_width double precision, ci_score double precision
);
"""


@pytest.fixture
def existing_log(server_url):
    from fraudcal_dev import services

    name = f"fraudcal_readme_view_{os.getpid()}"
    url = services.ensure_database(server_url, name, recreate=True)
    yield url
    with psycopg.connect(server_url, autocommit=True) as conn:
        services.drop_database(conn, name)


def test_the_view_example_lets_fraudcal_read_and_backfill_an_existing_log(existing_log):
    import psycopg2

    from fraudcal.calibration_set import compute_calibration_set
    from fraudcal_airflow.db import intervals
    from fraudcal_airflow.db.calibration_sets import record_calibration_set
    from fraudcal_airflow.db.migrations import apply_migrations
    from fraudcal_airflow.db.prediction_log import extract_outcomes

    start = datetime(2025, 1, 1, tzinfo=UTC)
    rng = np.random.default_rng(1)
    scores = rng.random(600) * 0.5
    with psycopg.connect(existing_log) as conn:
        apply_migrations(conn)  # fraudcal's own schema only: the application's table is its own
        conn.execute(APPLICATION_TABLE)
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO app.fraud_scores (model_name, model_release, scored_at, score, risk_band, confirmed_fraud) "
                "VALUES ('fraud_detector', 'v1', %s, %s, 'LOW', %s)",
                [(start + timedelta(hours=i), float(s), bool(rng.random() < s)) for i, s in enumerate(scores)],
            )
        conn.execute(readme_block("view-example", "sql"))
        conn.commit()
    copy_conn = psycopg2.connect(existing_log)
    try:
        window_end = start + timedelta(days=20)
        labeled = extract_outcomes(copy_conn, "fraud_log", "fraud_detector", "v1", start, window_end)
    finally:
        copy_conn.close()
    assert len(labeled) == 480 and labeled.ids.tolist() == list(range(1, 481))
    calibration_set = compute_calibration_set(
        labeled.probabilities, labeled.labels, model_type="fraud_detector", model_version="v1",
        window_start=start, window_end=window_end,
    )
    request = intervals.BackfillRequest(
        "fraud_log", "fraud_detector", ("v1",), window_end, start + timedelta(days=26), chunk_size=1000
    )
    with psycopg.connect(existing_log) as conn:
        record_calibration_set(conn, calibration_set, dag_id="d", run_id="r")
        chunks, rows = intervals.plan_chunks(conn, request)
        written = sum(intervals.apply_chunk(conn, request, chunk) for chunk in chunks)
        filled = conn.execute("SELECT count(*) FROM app.fraud_scores WHERE ci_lower IS NOT NULL").fetchone()[0]
    assert rows == written == filled == 120  # the 6 days after the window, written through the view
