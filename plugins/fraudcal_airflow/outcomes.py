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

from fraudcal.names import check_name, is_safe_name
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
    """Read a CSV of labeled outcomes (UTF-8, a header line, one row per prediction) and check it.

    Every bad file fails here, at once, naming the file and, where there is one, the line:
    lines are the file's own, counted from 1 (the header is line 1 when the file starts with
    it), and a row spread over several lines by a quoted line break is named by its first
    line. Empty ``probability`` and ``label`` values (and ``NA``, ``NaN``, ``NULL``) are read
    as missing and left to the validation suite, which names their prediction ids.

    Raises
    ------
    CalibrationInputError
        If the file is empty, unreadable or not UTF-8 (the byte offset and line are named), is
        not well-formed CSV, has no rows, lacks required columns (they are named) or repeats
        one, or a row has the wrong number of fields, an id that is not an integer, a
        probability or label that is not a number, a ``predicted_at`` that is not an ISO 8601
        timestamp, or a model type or version that is not a safe name
        (:data:`fraudcal.names.SAFE_NAME_PATTERN`).
    """
    import pandas as pd

    text = _csv_text(path)
    header, header_line, records, lines = _csv_records(path, text)
    missing = [column for column in CSV_REQUIRED_COLUMNS if column not in header]
    if missing:
        raise CalibrationInputError(
            f"CSV {path.name} lacks the required column(s) {missing}; "
            f"expected {list(CSV_REQUIRED_COLUMNS)}, found {header}"
        )
    repeated = sorted({column for column in header if header.count(column) > 1})
    if repeated:
        raise CalibrationInputError(
            f"CSV {path.name}: the header (line {header_line}) repeats the column(s) {repeated}"
        )
    if not records:
        raise CalibrationInputError(
            f"CSV {path.name} has a header (line {header_line}) but the file has no rows: "
            "expected one row per labeled prediction"
        )
    where = f"(lines of the file, counted from 1; the header is line {header_line})"
    frame = pd.DataFrame(records, columns=header, dtype=object)
    line_of = np.asarray(lines)

    def refuse(column: str, rule: str, bad: pd.Series) -> CalibrationInputError:
        position = int(np.flatnonzero(bad.to_numpy(dtype=bool))[0])
        return CalibrationInputError(
            f"CSV {path.name}: column {column!r} must be {rule}; value {frame[column].iloc[position]!r} "
            f"on line {line_of[position]} is not ({int(bad.sum())} row(s) break the rule) {where}"
        )

    for column in ("model_type", "model_version"):
        bad = ~frame[column].map(is_safe_name)
        if bad.any():
            position = int(np.flatnonzero(bad.to_numpy(dtype=bool))[0])
            reason = _name_problem(column, frame[column].iloc[position])
            raise CalibrationInputError(f"CSV {path.name}, line {line_of[position]} {where}: {reason}")
        frame[column] = frame[column].astype("string")

    ids = frame["id"].str.strip()
    bad = ~ids.str.fullmatch(r"[+-]?[0-9]+")
    if bad.any():
        raise refuse("id", "an integer (the prediction id: digits only, no decimal point, never empty)", bad)
    numbers = [int(value) if len(value.lstrip("+-").lstrip("0")) <= 19 else None for value in ids]
    bad = pd.Series([value is None or not _INT64_MIN <= value <= _INT64_MAX for value in numbers])
    if bad.any():
        raise refuse("id", f"an integer in [{_INT64_MIN}, {_INT64_MAX}] (a bigint)", bad)
    frame["id"] = np.asarray(numbers, dtype=np.int64)

    for column in ("probability", "label"):
        values = frame[column].str.strip()
        values = values.where(~values.isin(_MISSING), None)
        converted = pd.to_numeric(values, errors="coerce")
        bad = converted.isna() & values.notna()
        if bad.any():
            raise refuse(column, "numeric", bad)
        frame[column] = converted.astype(np.float64)

    timestamps = pd.to_datetime(frame["predicted_at"].str.strip(), utc=True, errors="coerce", format="ISO8601")
    bad = timestamps.isna()
    if bad.any():
        raise refuse("predicted_at", "an ISO 8601 timestamp", bad)
    frame["predicted_at"] = timestamps
    return frame


#: What a numeric CSV cell may hold to mean "missing" (pandas' common spellings).
_MISSING = frozenset({"", "NA", "N/A", "n/a", "NaN", "nan", "NULL", "null", "None", "<NA>", "#N/A"})
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def _csv_text(path: Path) -> str:
    """The file's text: refuse an empty, unreadable or non-UTF-8 file (a UTF-8 BOM is allowed)."""
    import codecs
    import re

    try:
        data = path.read_bytes()
    except OSError as error:
        raise CalibrationInputError(f"CSV {path.name} cannot be read: {error.strerror or error}") from None
    if not data:
        raise CalibrationInputError(
            f"CSV {path.name} is empty (0 bytes): expected a header line {','.join(CSV_REQUIRED_COLUMNS)} "
            "and one row per labeled prediction"
        )
    skip = len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0
    try:
        return data[skip:].decode("utf-8")
    except UnicodeDecodeError as error:
        offset = skip + error.start
        line = len(re.findall(rb"\r\n|\r|\n", data[:offset])) + 1
        raise CalibrationInputError(
            f"CSV {path.name} is not UTF-8: byte 0x{data[offset]:02x} at byte offset {offset} (counted from 0), "
            f"on line {line} (counted from 1), is not valid UTF-8 ({error.reason}); save the file as UTF-8"
        ) from None


def _csv_records(path: Path, text: str) -> tuple[list[str], int, list[list[str]], list[int]]:
    """The header, its line, the rows and the first line of each row (blank lines skipped)."""
    import csv
    import io

    header: list[str] | None = None
    header_line = 0
    records: list[list[str]] = []
    lines: list[int] = []
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    first_line = 1
    try:
        for row in reader:
            line, first_line = first_line, reader.line_num + 1
            if not row:
                continue
            if header is None:
                header, header_line = row, line
            elif len(row) != len(header):
                raise CalibrationInputError(
                    f"CSV {path.name}, line {line} (lines of the file, counted from 1): {len(row)} field(s), "
                    f"but the header (line {header_line}) has {len(header)}"
                )
            else:
                records.append(row)
                lines.append(line)
    except csv.Error as error:
        raise CalibrationInputError(
            f"CSV {path.name}, line {reader.line_num} (lines of the file, counted from 1): not well-formed CSV: {error}"
        ) from None
    if header is None:
        raise CalibrationInputError(
            f"CSV {path.name} has only blank lines: expected a header line {','.join(CSV_REQUIRED_COLUMNS)} "
            "and one row per labeled prediction"
        )
    return header, header_line, records, lines


def _name_problem(column: str, value: object) -> str:
    """Why a CSV's model type or version is refused, in the words of :func:`fraudcal.names.check_name`."""
    try:
        check_name(column, value, CalibrationInputError)
    except CalibrationInputError as error:
        return str(error)
    return f"{column} {value!r} is not a safe name"  # pragma: no cover - is_safe_name said it was not


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
