"""Labeled outcomes: find the model versions, extract a window, read a CSV, snapshot.

The labeled outcomes of a window are four columns: the prediction id, the predicted
probability, the label (0/1) and ``predicted_at``. From PostgreSQL they arrive by one binary
COPY parsed straight into numpy (:mod:`fraudcal_airflow.pgcopy`); from a CSV through pandas.

The COPY runs on a psycopg2 connection (:func:`fraudcal_airflow.connections.fraud_db_copy_connection`):
psycopg2's ``copy_expert`` hands the stream over in C, while psycopg 3's ``Copy`` yields one
Python object per row and measured 1.8x slower on a million rows (``make bench``). Every
other statement uses psycopg 3, as the Postgres provider does.
Between tasks they travel as an ``.npz`` snapshot in the artifacts folder, never through
XCom.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from fraudcal_airflow.errors import CalibrationInputError
from fraudcal_airflow.pgcopy import copy_to_numpy
from fraudcal_airflow.sql import load_sql

if TYPE_CHECKING:
    import pandas as pd
    import psycopg
    import psycopg2.extensions

DB_SOURCES = ("fraud_log", "prediction_log")
SOURCES = (*DB_SOURCES, "csv")
#: Binary COPY columns per source: the fraud log's label is boolean, the generic log's smallint.
OUTCOME_COLUMNS = {
    "fraud_log": [("id", "int8"), ("probability", "float8"), ("label", "bool"), ("predicted_at", "timestamptz")],
    "prediction_log": [("id", "int8"), ("probability", "float8"), ("label", "int2"), ("predicted_at", "timestamptz")],
}
CSV_REQUIRED_COLUMNS = ("id", "model_type", "model_version", "predicted_at", "probability", "label")


@dataclass(frozen=True)
class LabeledOutcomes:
    """The labeled outcomes of one model version in one window."""

    ids: np.ndarray  # int64
    probabilities: np.ndarray  # float64, NaN where the log had NULL
    labels: np.ndarray  # float64 so that a missing label (CSV) can be NaN
    predicted_at: np.ndarray  # datetime64[us], UTC

    def __len__(self) -> int:
        return int(self.ids.size)

    def to_frame(self) -> pd.DataFrame:
        """Return the outcomes as a DataFrame (what Great Expectations validates)."""
        import pandas as pd

        return pd.DataFrame(
            {
                "id": self.ids,
                "probability": self.probabilities,
                "label": self.labels,
                "predicted_at": pd.to_datetime(self.predicted_at, utc=True),
            }
        )


def _window(window_start: datetime, window_end: datetime) -> dict[str, datetime]:
    return {"window_start": window_start, "window_end": window_end}


def known_versions(conn: psycopg.Connection, source: str, model_type: str) -> list[str]:
    """Return every model version of ``model_type`` that has logged a prediction."""
    _check_db_source(source)
    with conn.cursor() as cur:
        cur.execute(load_sql(f"calibration/known_versions__{source}"), {"model_type": model_type})
        return [row[0] for row in cur.fetchall()]


def versions_with_outcomes(
    conn: psycopg.Connection, source: str, model_type: str, window_start: datetime, window_end: datetime
) -> list[str]:
    """Return the model versions with at least one labeled outcome in the window."""
    _check_db_source(source)
    with conn.cursor() as cur:
        cur.execute(
            load_sql(f"calibration/versions_with_outcomes__{source}"),
            {"model_type": model_type, **_window(window_start, window_end)},
        )
        return [row[0] for row in cur.fetchall()]


def resolve_versions(requested: list[str], known: list[str], model_type: str, source: str) -> list[str]:
    """Check requested versions against the known ones; return them sorted, de-duplicated.

    Raises
    ------
    CalibrationInputError
        Naming every unknown version and listing the known ones.
    """
    unknown = [version for version in requested if version not in known]
    if unknown:
        raise CalibrationInputError(
            f"unknown model_version(s) {unknown!r} for model_type {model_type!r} in source "
            f"{source!r}: a version must have logged predictions (known: {known or 'none'})"
        )
    return sorted(set(requested))


def requested_or_known_versions(
    conn: psycopg.Connection, source: str, model_type: str, requested: list[str]
) -> list[str]:
    """The requested versions (each must be known), or every known version when none is requested."""
    known = known_versions(conn, source, model_type)
    return resolve_versions(requested, known, model_type, source) if requested else known


def extract_outcomes(
    copy_conn: psycopg2.extensions.connection,
    source: str,
    model_type: str,
    model_version: str,
    window_start: datetime,
    window_end: datetime,
) -> LabeledOutcomes:
    """Extract the labeled outcomes of one version predicted in ``[window_start, window_end)``.

    One binary COPY (a single statement, so one consistent snapshot), parsed without a
    per-row Python loop. Parameters are bound client-side by ``mogrify`` (COPY takes no
    server-side parameters), with the driver's quoting: values are never formatted in.

    Parameters
    ----------
    copy_conn : psycopg2 connection
        See the module docstring for why psycopg2 here.
    """
    _check_db_source(source)
    params = {"model_type": model_type, "model_version": model_version, **_window(window_start, window_end)}
    columns = copy_to_numpy(
        copy_conn, load_sql(f"calibration/labeled_outcomes__{source}"), params, OUTCOME_COLUMNS[source]
    )
    return LabeledOutcomes(
        ids=columns["id"],
        probabilities=columns["probability"],
        labels=columns["label"].astype(np.float64),
        predicted_at=columns["predicted_at"],
    )


def resolve_csv_path(csv_path: str | None, import_dir: Path) -> Path:
    """Return the CSV file ``csv_path`` names, which must lie inside ``import_dir``.

    Raises
    ------
    CalibrationInputError
        If no path is given, it escapes the import folder (``..``, absolute paths,
        symlinks), or the file does not exist.
    """
    if not csv_path:
        raise CalibrationInputError("source 'csv' needs the Param csv_path (a file inside the import folder)")
    root = import_dir.resolve()
    candidate = Path(csv_path)
    path = (candidate if candidate.is_absolute() else root / candidate).resolve()
    if path != root and root not in path.parents:
        raise CalibrationInputError(
            f"csv_path {csv_path!r} resolves to {path}, outside the import folder {root}; "
            "CSV files are only read from the import folder (FRAUDCAL_IMPORT_DIR)"
        )
    if not path.is_file():
        raise CalibrationInputError(f"csv_path {csv_path!r}: no such file {path} in the import folder")
    return path


def read_csv_outcomes(path: Path) -> pd.DataFrame:
    """Read a CSV of labeled outcomes and check its columns.

    Raises
    ------
    CalibrationInputError
        If required columns are missing (they are named) or a value cannot be parsed.
    """
    import pandas as pd

    frame = pd.read_csv(path, dtype={"model_type": "string", "model_version": "string"})
    missing = [column for column in CSV_REQUIRED_COLUMNS if column not in frame.columns]
    if missing:
        raise CalibrationInputError(
            f"CSV {path.name} lacks the required column(s) {missing}; "
            f"expected {list(CSV_REQUIRED_COLUMNS)}, found {list(frame.columns)}"
        )
    for column in ("id", "probability", "label"):
        converted = pd.to_numeric(frame[column], errors="coerce")
        bad = frame[column][converted.isna() & frame[column].notna()]
        if len(bad):
            raise CalibrationInputError(
                f"CSV {path.name}: column {column!r} must be numeric; "
                f"value {bad.iloc[0]!r} on data row {bad.index[0] + 1} is not"
            )
        frame[column] = converted
    timestamps = pd.to_datetime(frame["predicted_at"], utc=True, errors="coerce", format="ISO8601")
    bad = frame["predicted_at"][timestamps.isna()]
    if len(bad):
        raise CalibrationInputError(
            f"CSV {path.name}: predicted_at must be an ISO 8601 timestamp; "
            f"value {bad.iloc[0]!r} on data row {bad.index[0] + 1} is not"
        )
    frame["predicted_at"] = timestamps
    return frame


def csv_outcomes(
    frame: pd.DataFrame, model_type: str, model_version: str, window_start: datetime, window_end: datetime
) -> LabeledOutcomes:
    """Select one version's rows of a CSV frame predicted inside the window."""
    import pandas as pd

    in_window = (frame["predicted_at"] >= pd.Timestamp(window_start)) & (
        frame["predicted_at"] < pd.Timestamp(window_end)
    )
    rows = frame[(frame["model_type"] == model_type) & (frame["model_version"] == model_version) & in_window]
    if rows["id"].isna().any():
        raise CalibrationInputError(f"CSV rows of {model_type}/{model_version} have an empty id; every row needs one")
    return LabeledOutcomes(
        ids=rows["id"].to_numpy(dtype=np.int64),
        probabilities=rows["probability"].to_numpy(dtype=np.float64, na_value=np.nan),
        labels=rows["label"].to_numpy(dtype=np.float64, na_value=np.nan),
        predicted_at=rows["predicted_at"].dt.tz_convert("UTC").dt.tz_localize(None).to_numpy(dtype="datetime64[us]"),
    )


def save_snapshot(outcomes: LabeledOutcomes, path: Path) -> Path:
    """Write the outcomes to ``path`` (``.npz``), atomically: a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    with partial.open("wb") as handle:
        np.savez(
            handle,
            ids=outcomes.ids,
            probabilities=outcomes.probabilities,
            labels=outcomes.labels,
            predicted_at=outcomes.predicted_at.astype(np.int64),
        )
    partial.replace(path)
    return path


def load_snapshot(path: Path) -> LabeledOutcomes:
    """Read a snapshot written by :func:`save_snapshot`."""
    with np.load(path) as data:
        return LabeledOutcomes(
            ids=data["ids"],
            probabilities=data["probabilities"],
            labels=data["labels"],
            predicted_at=data["predicted_at"].astype("datetime64[us]"),
        )


def _check_db_source(source: str) -> None:
    if source not in DB_SOURCES:
        raise CalibrationInputError(f"source {source!r} is not a database source; expected one of {DB_SOURCES}")
