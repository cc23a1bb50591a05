"""Extracting labeled outcomes from real PostgreSQL and from CSV files."""

from __future__ import annotations

import os
import re
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


UNSAFE_VERSIONS = ["v1:previous", "a/b", "<img src=x onerror=alert(1)>", "v3\r\nBcc: x@evil.example"]


@pytest.mark.parametrize("source", ["fraud_log", "prediction_log"])
def test_unsafe_versions_in_the_log_are_skipped_with_a_warning_naming_them(pg, loaded, caplog, source):
    """A version read from the log reaches Redis keys, file names and subjects: an unsafe one is left
    out of every listing (calibration, backfill, both reports), each named with the rule; the others stay."""
    table, probability, label = (
        ("noc_fraud_prediction_log", "fraud_probability", "actual_fraud_detected")
        if source == "fraud_log"
        else ("ml_prediction_log", "prediction", "actual_outcome")
    )
    value = "true" if source == "fraud_log" else "1"
    with pg.cursor() as cur:
        for version in UNSAFE_VERSIONS:
            cur.execute(
                f"INSERT INTO {table} (model_type, model_version, predicted_at, {probability}, {label}) "
                f"VALUES ('fraud_detector', %s, '2025-02-01T00:00:00Z', 0.5, {value})",
                (version,),
            )
    with caplog.at_level("WARNING", logger="fraudcal_airflow.db.prediction_log"):
        assert prediction_log.known_versions(pg, source, "fraud_detector") == ["v1", "v2"]
        assert prediction_log.versions_with_outcomes(pg, source, "fraud_detector", START, END) == ["v1", "v2"]
        assert prediction_log.requested_or_known_versions(pg, source, "fraud_detector", []) == ["v1", "v2"]
    warnings = [record.getMessage() for record in caplog.records if record.levelname == "WARNING"]
    for version in UNSAFE_VERSIONS:
        named = [message for message in warnings if f"model_version {version!r} is not a safe name" in message]
        assert len(named) == 3, (version, warnings)
        assert all(f"source {source!r}" in message and "[A-Za-z0-9._-]" in message for message in named)


def test_a_requested_unsafe_version_is_refused_by_name_not_as_unknown():
    with pytest.raises(CalibrationInputError, match=r"model_version 'v1:previous' is not a safe name: ':' at index 2"):
        prediction_log.resolve_versions(
            ["v1", "v1:previous"], ["v1", "v1:previous"], "fraud_detector", "fraud_log", CalibrationInputError
        )


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
        CalibrationInputError,
        match=r"CSV bad.csv: column 'probability' must be numeric; value 'high' on line 3 is not .*"
        r"\(lines of the file, counted from 1; the header is line 1\)",
    ):
        outcomes.read_csv_outcomes(path)


HEADER = "id,model_type,model_version,predicted_at,probability,label\n"
ROW = "1,fraud_detector,v1,2025-02-01T00:00:00Z,0.5,0\n"


def _refused(path, *patterns: str) -> str:
    """Read ``path``; it must fail at once (an InputError) with a message naming the file and each pattern."""
    with pytest.raises(CalibrationInputError) as error:
        outcomes.read_csv_outcomes(path)
    message = str(error.value)
    assert f"CSV {path.name}" in message
    for pattern in patterns:
        assert re.search(pattern, message), (pattern, message)
    return message


def test_an_empty_csv_fails_at_once_naming_the_file(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    _refused(path, r"is empty \(0 bytes\)", "expected a header line id,model_type")


def test_a_csv_that_is_not_utf8_names_the_byte_offset_and_line(tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes((HEADER + ROW + "2,fraud_d\u00e9tector,v1,2025-02-01T00:00:00Z,0.5,0\n").encode("latin-1"))
    offset = len((HEADER + ROW + "2,fraud_d").encode())
    _refused(path, rf"is not UTF-8: byte 0xe9 at byte offset {offset} \(counted from 0\), on line 3 \(counted from 1\)")


@pytest.mark.parametrize("text", [HEADER, HEADER + "\n\n"], ids=["header", "header-and-blank-lines"])
def test_a_header_only_csv_says_the_file_has_no_rows(tmp_path, text):
    path = tmp_path / "header_only.csv"
    path.write_text(text)
    _refused(path, "the file has no rows")


@pytest.mark.parametrize("value", ["12.7", "abc", "1e3", "", "99999999999999999999"])
def test_an_id_that_is_not_an_integer_is_refused_naming_value_and_line(tmp_path, value):
    path = tmp_path / "ids.csv"
    path.write_text(HEADER + ROW + f"{value},fraud_detector,v1,2025-02-01T00:00:00Z,0.5,0\n")
    _refused(path, rf"column 'id' must be an integer.*; value {re.escape(repr(value))} on line 3 is not")


def test_a_non_numeric_label_names_value_and_line(tmp_path):
    path = tmp_path / "labels.csv"
    path.write_text(HEADER + ROW + ROW.replace(",0\n", ",yes\n"))
    _refused(path, r"column 'label' must be numeric; value 'yes' on line 3 is not")


def test_an_unparsable_timestamp_names_value_and_line(tmp_path):
    path = tmp_path / "times.csv"
    path.write_text(HEADER + ROW + ROW.replace("2025-02-01T00:00:00Z", "yesterday"))
    _refused(path, r"column 'predicted_at' must be an ISO 8601 timestamp; value 'yesterday' on line 3 is not")


def test_lines_are_the_files_own_across_blank_lines_and_quoted_line_breaks(tmp_path):
    path = tmp_path / "lines.csv"
    path.write_text(
        HEADER.replace("label\n", "label,note\n")
        + ROW.replace("\n", ',"a note\nover two lines"\n')  # lines 2-3
        + "\n"  # line 4, blank
        + ROW.replace("0.5", "high").replace("\n", ",x\n")  # line 5
    )
    _refused(path, r"value 'high' on line 5 is not")


def test_a_row_with_the_wrong_number_of_fields_names_its_line(tmp_path):
    path = tmp_path / "fields.csv"
    path.write_text(HEADER + ROW + ROW.replace("\n", ",extra\n"))
    _refused(path, r"line 3 .*: 7 field\(s\), but the header \(line 1\) has 6")


@pytest.mark.parametrize(
    ("row", "named"),
    [
        (ROW.replace(",v1,", ",v1:previous,"), "model_version 'v1:previous' is not a safe name: ':' at index 2"),
        (ROW.replace(",v1,", ',"<img src=x onerror=alert(1)>",'), "model_version '<img src=x onerror=alert(1)>'"),
        (ROW.replace(",v1,", ",a/b,"), "model_version 'a/b' is not a safe name"),
        (ROW.replace("fraud_detector", "fraud detector"), "model_type 'fraud detector' is not a safe name"),
    ],
    ids=["colon", "html", "slash", "space-in-type"],
)
def test_a_csv_with_an_unsafe_model_name_is_refused_naming_line_and_rule(tmp_path, row, named):
    path = tmp_path / "names.csv"
    path.write_text(HEADER + ROW + row)
    _refused(path, r"line 3 ", re.escape(named), re.escape("[A-Za-z0-9._-]"))
