"""Extracting labeled outcomes from real PostgreSQL and from CSV files."""

from __future__ import annotations

import os
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from fraudcal.synthetic import SyntheticConfig, generate_prediction_log
from fraudcal_airflow import outcomes
from fraudcal_airflow.db import prediction_log
from fraudcal_airflow.db.pgcopy import parse_binary_copy
from fraudcal_airflow.errors import CalibrationInputError, InputError
from fraudcal_dev.synthetic_load import load_prediction_log, truncate_prediction_logs

START, END = datetime(2025, 1, 20, tzinfo=UTC), datetime(2025, 2, 19, tzinfo=UTC)


@pytest.fixture
def copy_conn(db_url):
    import psycopg2

    conn = psycopg2.connect(db_url)
    yield conn
    conn.close()


@pytest.fixture
def loaded(pg):
    log = generate_prediction_log(SyntheticConfig(n_events=20_000, days=60))
    truncate_prediction_logs(pg)
    load_prediction_log(pg, log, also_generic=True)
    return log


def _copy_bytes(pg, query: str) -> bytes:
    buffer = bytearray()
    with pg.cursor() as cur, cur.copy(f"COPY ({query}) TO STDOUT (FORMAT binary)") as copy:
        for block in copy:
            buffer += block
    return bytes(buffer)


def test_binary_copy_parser_reads_every_fixed_width_type(pg):
    data = _copy_bytes(
        pg,
        "SELECT * FROM (VALUES (1::int2, 2::int4, 3::int8, 0.5::float4, 0.25::float8, true, "
        "'2025-03-01 12:00:00.000001+00'::timestamptz), (-1::int2, -2::int4, -3::int8, -0.5::float4, "
        "'NaN'::float8, false, '1999-12-31 23:59:59+00'::timestamptz)) t",
    )
    columns = [
        ("a", "int2"),
        ("b", "int4"),
        ("c", "int8"),
        ("d", "float4"),
        ("e", "float8"),
        ("f", "bool"),
        ("g", "timestamptz"),
    ]
    parsed = parse_binary_copy(data, columns)
    assert parsed["a"].tolist() == [1, -1] and parsed["c"].tolist() == [3, -3]
    assert parsed["d"].tolist() == [0.5, -0.5] and parsed["e"][0] == 0.25 and np.isnan(parsed["e"][1])
    assert parsed["f"].tolist() == [True, False]
    assert parsed["g"].tolist() == [datetime(2025, 3, 1, 12, 0, 0, 1), datetime(1999, 12, 31, 23, 59, 59)]


def test_binary_copy_parser_refuses_null_values(pg):
    data = _copy_bytes(pg, "SELECT * FROM (VALUES (1::int8), (NULL::int8)) t")
    with pytest.raises(ValueError, match="NULL or not of fixed width"):
        parse_binary_copy(data, [("x", "int8")])


@pytest.mark.parametrize("source", ["fraud_log", "prediction_log"])
def test_extract_returns_exactly_the_labeled_rows_of_the_window(copy_conn, loaded, source):
    extracted = prediction_log.extract_outcomes(copy_conn, source, "fraud_detector", "v1", START, END)
    expected = loaded.assign(id=np.arange(1, len(loaded) + 1))
    expected = expected[
        (expected["model_version"] == "v1")
        & (expected["predicted_at"] >= START)
        & (expected["predicted_at"] < END)
        & expected["actual_fraud_detected"].notna()
    ]
    assert len(expected) > 1000
    order = np.argsort(extracted.ids)
    assert extracted.ids[order].tolist() == expected["id"].tolist()
    assert np.array_equal(extracted.probabilities[order], expected["fraud_probability"].to_numpy())
    assert np.array_equal(extracted.labels[order], expected["actual_fraud_detected"].astype(float).to_numpy())
    stored_times = pd.to_datetime(extracted.predicted_at[order]).tz_localize("UTC")
    assert (stored_times == expected["predicted_at"].dt.floor("us").to_numpy()).all()


def test_versions_with_outcomes_and_unknown_versions(pg, loaded):
    assert prediction_log.versions_with_outcomes(pg, "fraud_log", "fraud_detector", START, END) == ["v1", "v2"]
    known = prediction_log.known_versions(pg, "fraud_log", "fraud_detector")
    with pytest.raises(InputError, match=r"unknown model_version\(s\) \['v9'\].*known: \['v1', 'v2'\]"):
        prediction_log.resolve_versions(["v1", "v9"], known, "fraud_detector", "fraud_log")


def test_sql_injection_in_a_model_version_is_only_data(pg, copy_conn, loaded):
    attack = "v1'; DROP TABLE noc_fraud_prediction_log; --"
    extracted = prediction_log.extract_outcomes(copy_conn, "fraud_log", "fraud_detector", attack, START, END)
    assert len(extracted) == 0
    assert pg.execute("SELECT count(*) FROM noc_fraud_prediction_log").fetchone()[0] == len(loaded)


def test_snapshot_round_trip(tmp_path, copy_conn, loaded):
    extracted = prediction_log.extract_outcomes(copy_conn, "fraud_log", "fraud_detector", "v2", START, END)
    path = outcomes.save_snapshot(extracted, tmp_path / "a" / "s.npz")
    again = outcomes.load_snapshot(path)
    for field in ("ids", "probabilities", "labels", "predicted_at"):
        assert np.array_equal(getattr(again, field), getattr(extracted, field))
    assert not list(tmp_path.rglob("*.partial"))


class TestCsvPaths:
    def test_relative_path_inside_the_import_folder(self, import_dir):
        (import_dir / "ok.csv").write_text("x\n")
        assert outcomes.resolve_csv_path("ok.csv", import_dir) == import_dir / "ok.csv"

    @pytest.mark.parametrize("path", ["../secrets.csv", "/etc/passwd", "sub/../../x.csv"])
    def test_paths_outside_the_import_folder_are_refused(self, import_dir, path):
        with pytest.raises(CalibrationInputError, match="outside the import folder") as error:
            outcomes.resolve_csv_path(path, import_dir)
        assert repr(path) in str(error.value)

    def test_symlink_escaping_the_import_folder_is_refused(self, import_dir, tmp_path):
        outside = tmp_path / "outside.csv"
        outside.write_text("x\n")
        link = import_dir / "link.csv"
        if not link.exists():
            os.symlink(outside, link)
        with pytest.raises(CalibrationInputError, match="outside the import folder"):
            outcomes.resolve_csv_path("link.csv", import_dir)

    def test_missing_file_and_missing_param(self, import_dir):
        with pytest.raises(CalibrationInputError, match="no such file"):
            outcomes.resolve_csv_path("absent.csv", import_dir)
        with pytest.raises(CalibrationInputError, match="needs the Param csv_path"):
            outcomes.resolve_csv_path(None, import_dir)


def test_csv_with_missing_columns_names_them(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("id,model_version,probability\n1,v1,0.5\n")
    with pytest.raises(
        CalibrationInputError, match=r"lacks the required column\(s\) \['model_type', 'predicted_at', 'label'\]"
    ):
        outcomes.read_csv_outcomes(path)


def test_csv_with_unparseable_values_names_value_and_row(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text(
        "id,model_type,model_version,predicted_at,probability,label\n"
        "1,fraud_detector,v1,2025-02-01T00:00:00Z,0.5,0\n"
        "2,fraud_detector,v1,2025-02-01T00:00:00Z,high,1\n"
    )
    with pytest.raises(
        CalibrationInputError, match=r"column 'probability' must be numeric; value 'high' on data row 2"
    ):
        outcomes.read_csv_outcomes(path)
