"""Labeled outcomes of one window: the snapshot tasks pass on, and the CSV source.

The labeled outcomes of a window are four columns: the prediction id, the predicted
probability, the label (0/1) and ``predicted_at``. From PostgreSQL they arrive by one binary
COPY (:func:`fraudcal_airflow.db.prediction_log.extract_outcomes`); from a CSV in the import
folder through pandas (here). Between tasks they travel as an ``.npz`` snapshot in the
artifacts folder, never through XCom.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from fraudcal_airflow.errors import CalibrationInputError

if TYPE_CHECKING:
    import pandas as pd

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
