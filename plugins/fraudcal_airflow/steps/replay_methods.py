"""The steps of ``replay_methods``: would each calibration method have worked on our history?

``plan`` checks the Params (before any connection: bad input writes nothing), resolves the
versions, the period (default: the last :data:`fraudcal.defaults.DEFAULT_REPLAY_DAYS` days up
to the last labeled day, as the coverage report picks its period) and the label maturity
(``"auto"``: from the label snapshots, :func:`fraudcal_airflow.db.maturity.read_snapshots`).
``extract`` reads each version's predictions of ``[date_from - label_maturity_days -
window_days, date_to]`` with one binary COPY into an ``.npz`` snapshot in the run's artifacts
folder. ``replay`` runs :func:`fraudcal.replay.replay` once per version on its snapshot (no
per-day database round trip) and replaces the run's rows of ``fraudcal.replay_daily`` in one
transaction.

The window is the calibration's: with a label maturity of ``m`` days the window of ``as_of = D``
keeps its ``window_days`` and ends ``m`` days before ``D``, ``[D - m - window_days, D - m)``
(:mod:`fraudcal_airflow.steps.calibrate`, :func:`fraudcal.maturity.matured_until`). The core's
window ``[D - window_days, D - label_maturity_days)`` is that window when it is given
``window_days + m`` (:func:`core_window_days`). ``build_report``
reads them back, renders and archives the report (``fraudcal.report_runs``), ``send_report``
mails what was archived. Presentation: :mod:`fraudcal_airflow.reporting.replay`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fraudcal.defaults import DEFAULT_REPLAY_DAYS, MONDRIAN_ACI_METHOD
from fraudcal_airflow.dates import parse_day
from fraudcal_airflow.errors import ReplayInputError
from fraudcal_airflow.runtime import RunInfo

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

#: The file name of a version's snapshot in its run folder.
SNAPSHOT_NAME = "predictions.npz"
#: Where the report is archived: ``run_folder(REPORTS_KIND, dag_id, run_id, REPORT_FOLDER)``.
REPORTS_KIND, REPORT_FOLDER = "reports", "replay"


# ------------------------------------------------------------------ the Params, checked


@dataclass(frozen=True)
class ReplayRequest:
    """The Params of ``replay_methods``, checked (no database needed)."""

    model_type: str
    model_versions: tuple[str, ...]
    source: str
    date_from: date | None
    date_to: date | None
    methods: tuple[str, ...]
    aci_gamma: float
    window_days: int
    label_maturity_days: str | int  # "auto" or the days
    level: int
    narrow_threshold: float
    ticket_precision: float
    clear_npv: float
    triage_confidence: float
    recipients: tuple[str, ...]

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> ReplayRequest:
        """Check the Params that a JSON schema cannot check (Airflow has checked the rest).

        Raises
        ------
        ReplayInputError
            Naming the value: only one date given, a date not ``YYYY-MM-DD``, ``date_from`` after
            ``date_to``, an unknown or repeated method, or ``label_maturity_days`` neither ``"auto"``
            nor an integer in 0..365.
        """
        from fraudcal.maturity import AUTO, InvalidMaturityError, resolve_label_maturity
        from fraudcal.replay import REPLAY_METHODS

        date_from, date_to = params.get("date_from") or None, params.get("date_to") or None
        if bool(date_from) != bool(date_to):
            raise ReplayInputError(
                f"give both date_from and date_to, or neither (default: the last {DEFAULT_REPLAY_DAYS} days up to "
                f"the last labeled day); got date_from={date_from!r}, date_to={date_to!r}"
            )
        first = last = None
        if date_from:
            first = parse_day("date_from", date_from, ReplayInputError)
            last = parse_day("date_to", date_to, ReplayInputError)
            if first > last:
                raise ReplayInputError(f"date_from={date_from} is after date_to={date_to}; the range is inclusive")
        methods = tuple(params.get("methods") or ())
        unknown = [method for method in methods if method not in REPLAY_METHODS]
        if not methods or unknown or len(set(methods)) != len(methods):
            raise ReplayInputError(
                f"methods={list(methods)!r}: pick one or more of {list(REPLAY_METHODS)}, each once"
                + (f" ({unknown!r} unknown)" if unknown else "")
            )
        requested = params.get("label_maturity_days", 0)
        try:
            maturity = resolve_label_maturity(requested, None).days if requested != AUTO else AUTO
        except InvalidMaturityError as error:
            raise ReplayInputError(str(error)) from None
        return cls(
            model_type=params["model_type"],
            model_versions=tuple(params.get("model_versions") or ()),
            source=params["source"],
            date_from=first,
            date_to=last,
            methods=methods,
            aci_gamma=float(params["aci_gamma"]),
            window_days=int(params["window_days"]),
            label_maturity_days=maturity,
            level=int(params["coverage_level"]),
            narrow_threshold=float(params["narrow_threshold"]),
            ticket_precision=float(params["ticket_precision"]),
            clear_npv=float(params["clear_npv"]),
            triage_confidence=float(params["triage_confidence"]),
            recipients=tuple(params["recipients"]),
        )

    def configs(self) -> list[dict[str, Any]]:
        """The method configurations to replay (:class:`fraudcal.replay.MethodConfig` dicts), in the core's order."""
        from fraudcal.replay import REPLAY_METHODS, MethodConfig

        return [
            MethodConfig(method, method, {"gamma": self.aci_gamma} if method == MONDRIAN_ACI_METHOD else {}).to_dict()
            for method in REPLAY_METHODS
            if method in self.methods
        ]


def replay_period(
    first: date | None, last: date | None, latest_labeled_day: date | None, today: date
) -> tuple[date, date, str]:
    """The replayed days (inclusive) and how they were chosen: as given, or the last 90 up to the last labeled day."""
    if first is not None and last is not None:
        return first, last, "as given"
    end = latest_labeled_day or today
    why = (
        f"the last {DEFAULT_REPLAY_DAYS} days up to the last labeled day"
        if latest_labeled_day
        else f"no labeled prediction: the {DEFAULT_REPLAY_DAYS} days up to {today}"
    )
    return end - timedelta(days=DEFAULT_REPLAY_DAYS - 1), end, why


# ------------------------------------------------------------------ plan


@dataclass(frozen=True)
class ReplayPlan:
    """What the run replays, decided once by ``plan``; every later task reads it, never the Params."""

    model_type: str
    source: str
    versions: list[str]
    date_from: str
    date_to: str
    period_reason: str
    extract_from: str  # the first window's first day: date_from - label_maturity_days - window_days
    configs: list[dict[str, Any]]
    window_days: int
    label_maturity_days: int
    maturity_reason: str
    level: int
    narrow_threshold: float
    ticket_precision: float
    clear_npv: float
    triage_confidence: float
    recipients: list[str]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> ReplayPlan:
        return cls(**values)

    @property
    def days(self) -> tuple[date, date]:
        """The replayed days, inclusive."""
        return date.fromisoformat(self.date_from), date.fromisoformat(self.date_to)


def plan(params: Mapping[str, Any], run: RunInfo) -> ReplayPlan:
    """Check the Params, apply fraudcal's migrations, resolve the versions, the period and the maturity.

    Raises
    ------
    ReplayInputError
        Bad Params (:meth:`ReplayRequest.from_params`, before any connection) or an unknown model
        version.
    """
    from fraudcal.maturity import AUTO, arrival_curve, resolve_label_maturity, snapshot_day_for
    from fraudcal_airflow.connections import fraud_db_connection
    from fraudcal_airflow.db import prediction_log
    from fraudcal_airflow.db.migrations import apply_migrations

    request = ReplayRequest.from_params(params)
    with fraud_db_connection() as conn:
        apply_migrations(conn)
        versions = prediction_log.requested_or_known_versions(
            conn, request.source, request.model_type, request.model_versions, ReplayInputError
        )
        latest = None
        if request.date_from is None:
            latest = prediction_log.latest_labeled_day(conn, request.source, request.model_type, versions)
        first, last, period_reason = replay_period(request.date_from, request.date_to, latest, run.as_of.date())
        curve = None
        if request.label_maturity_days == AUTO:
            # Written by the calibration's label snapshots (migration 0007/0008); imported only when asked.
            from fraudcal_airflow.db.maturity import read_snapshots

            snapshots = read_snapshots(conn, request.model_type, versions, snapshot_day_for(run.as_of))
            curve = arrival_curve(snapshots) if len(snapshots) else None
        maturity = resolve_label_maturity(request.label_maturity_days, curve)
    replay_plan = ReplayPlan(
        model_type=request.model_type,
        source=request.source,
        versions=versions,
        date_from=first.isoformat(),
        date_to=last.isoformat(),
        period_reason=period_reason,
        extract_from=(first - timedelta(days=maturity.days + request.window_days)).isoformat(),
        configs=request.configs(),
        window_days=request.window_days,
        label_maturity_days=maturity.days,
        maturity_reason=maturity.reason,
        level=request.level,
        narrow_threshold=request.narrow_threshold,
        ticket_precision=request.ticket_precision,
        clear_npv=request.clear_npv,
        triage_confidence=request.triage_confidence,
        recipients=list(request.recipients),
    )
    print(
        f"replaying {', '.join(config['name'] for config in replay_plan.configs)} for {request.model_type} "
        f"{versions} on {first}..{last} ({period_reason}); {maturity.reason}"
    )
    return replay_plan


# ------------------------------------------------------------------ extract


@dataclass(frozen=True)
class Extracted:
    """Each version's snapshot file and its row count."""

    snapshots: dict[str, str]
    rows: dict[str, int]
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> Extracted:
        return cls(**values)


def extract(replay_plan: ReplayPlan, run: RunInfo) -> Extracted:
    """One binary COPY per version of its predictions in ``[extract_from, date_to]`` into an ``.npz`` snapshot."""
    from fraudcal_airflow.connections import fraud_db_copy_connection
    from fraudcal_airflow.dates import midnight
    from fraudcal_airflow.db.prediction_log import VersionPeriod, replay_predictions
    from fraudcal_airflow.paths import run_folder

    time_from = midnight(date.fromisoformat(replay_plan.extract_from))
    time_to = midnight(replay_plan.days[1] + timedelta(days=1))
    snapshots, rows = {}, {}
    began = time.perf_counter()
    copy_conn = fraud_db_copy_connection()
    try:
        for version in replay_plan.versions:
            period = VersionPeriod(replay_plan.source, replay_plan.model_type, version, time_from, time_to)
            columns = replay_predictions(copy_conn, period)
            path = run_folder("snapshots", run.dag_id, run.run_id, version) / SNAPSHOT_NAME
            save_predictions(columns, path)
            snapshots[version], rows[version] = str(path), int(columns["probability"].size)
            print(f"{version}: {rows[version]:,} predictions of {time_from:%Y-%m-%d}..{replay_plan.date_to} -> {path}")
    finally:
        copy_conn.close()
    return Extracted(snapshots, rows, time.perf_counter() - began)


def save_predictions(columns: Mapping[str, np.ndarray], path: Path) -> Path:
    """Write the extracted columns to ``path`` (``.npz``) atomically: a reader never sees half a file."""
    import numpy as np

    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    values = {name: column.astype(np.int64) if column.dtype.kind == "M" else column for name, column in columns.items()}
    with partial.open("wb") as handle:
        np.savez(handle, **values)
    partial.replace(path)
    return path


def load_predictions(path: Path) -> dict[str, np.ndarray]:
    """Read a snapshot written by :func:`save_predictions` (``predicted_at`` back as datetime64[us])."""
    import numpy as np

    with np.load(path) as data:
        columns = {name: data[name] for name in data.files}
    columns["predicted_at"] = columns["predicted_at"].astype("datetime64[us]")
    return columns


# ------------------------------------------------------------------ replay


@dataclass(frozen=True)
class VersionFacts:
    """What the report must say about one version's history besides the replay's counts."""

    predictions: int  # in the replayed days
    labeled: int  # of them, with a label now
    unusable_probability: int  # NULL, NaN or outside [0, 1]: left out of every figure
    without_risk_level: int  # never HIGH/CRITICAL: never auto-ticketed by residual or Mondrian
    first_prediction_day: str | None  # the earliest prediction extracted
    history_rows: int  # every usable row extracted (the windows' and the days')
    replay_seconds: float


@dataclass(frozen=True)
class Replayed:
    """The rows written to ``fraudcal.replay_daily`` and the facts per version."""

    rows_written: int
    replay_seconds: float
    facts: dict[str, dict[str, Any]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> Replayed:
        return cls(**values)


def history_frame(columns: Mapping[str, np.ndarray], version: str) -> tuple[pd.DataFrame, int]:
    """The core's history (``day``, ``probability``, ``label``, ``is_high_risk``) of a snapshot, and the rows left out.

    Rows whose probability is NULL, NaN or outside [0, 1] are left out and counted (the core
    refuses them, and the coverage report leaves them out the same way).

    Raises
    ------
    ReplayInputError
        If a label is neither 0 nor 1, naming the value, how many and the first one's time.
    """
    import numpy as np
    import pandas as pd

    probability = columns["probability"]
    usable = np.isfinite(probability) & (probability >= 0.0) & (probability <= 1.0)
    labeled, label = columns["labeled"], columns["label"]
    bad = labeled & (label != 0) & (label != 1)
    if bad.any():
        first = int(np.argmax(bad))
        raise ReplayInputError(
            f"model_version {version}: {int(bad.sum()):,} labels are neither 0 nor 1 (values "
            f"{sorted(set(label[bad].tolist()))[:5]}; the first predicted at {columns['predicted_at'][first]} UTC); "
            "a label must be 0 (legitimate) or 1 (fraud)"
        )
    frame = pd.DataFrame(
        {
            "day": columns["predicted_at"][usable].astype("datetime64[D]").astype(np.int64),
            "probability": probability[usable],
            "label": pd.array(label[usable] == 1, dtype="boolean"),
            "is_high_risk": columns["high_risk"][usable],
        }
    )
    frame.loc[~labeled[usable], "label"] = pd.NA
    return frame, int((~usable).sum())


def day_index(day: date) -> int:
    """Days since 1970-01-01, the core's day index of a history without its own ``day`` origin."""
    from fraudcal.replay import EPOCH

    return (day - EPOCH).days


def core_window_days(window_days: int, label_maturity_days: int) -> int:
    """The core's ``window_days`` for the calibration's window of ``window_days`` days ending ``m`` days before as_of.

    The core's window of ``as_of = D`` is ``[D - w, D - m)``; the calibration's keeps its length,
    ``[D - m - window_days, D - m)``: the same days when ``w = window_days + m``.

    Examples
    --------
    >>> core_window_days(30, 0), core_window_days(30, 7)
    (30, 37)
    """
    return window_days + label_maturity_days


def replay_version(replay_plan: ReplayPlan, frame: pd.DataFrame) -> pd.DataFrame:
    """:func:`fraudcal.replay.replay` of one version's history over the plan's days, with the plan's settings."""
    from fraudcal.replay import MethodConfig, replay

    first, last = replay_plan.days
    return replay(
        frame,
        days=range(day_index(first), day_index(last) + 1),
        configs=[MethodConfig.from_dict(config) for config in replay_plan.configs],
        window_days=core_window_days(replay_plan.window_days, replay_plan.label_maturity_days),
        label_maturity_days=replay_plan.label_maturity_days,
        level=replay_plan.level,
        narrow_threshold=replay_plan.narrow_threshold,
        target_precision=replay_plan.ticket_precision,
        target_npv=replay_plan.clear_npv,
        triage_confidence=replay_plan.triage_confidence,
    )


def table_rows(replay_plan: ReplayPlan, run: RunInfo, version: str, replayed: pd.DataFrame) -> list[tuple]:
    """The rows of ``fraudcal.replay_daily`` for one version's replay (columns of ``db.replay_daily.COLUMNS``)."""
    from fraudcal.replay import COUNT_COLUMNS

    configs = {config["name"]: config for config in replay_plan.configs}
    state = ("quantile", "window_n", "alpha", "saturated", "too_few_frauds")
    state += ("ticket_threshold", "clear_threshold", "ece_raw", "ece_p")
    rows = []
    for record in replayed.to_dict("records"):
        config = configs[record["config"]]
        rows.append(
            (
                run.dag_id,
                run.run_id,
                replay_plan.model_type,
                version,
                date.fromisoformat(record["date"]),
                record["config"],
                record["method"],
                config["options"],
                record["class"],
                replay_plan.level,
                int(config["options"].get("window_days", replay_plan.window_days)),
                replay_plan.label_maturity_days,
                *(record[name] for name in COUNT_COLUMNS),
                *(record[name] for name in state),
            )
        )
    return rows


def replay(replay_plan: ReplayPlan, extracted: Extracted, run: RunInfo) -> Replayed:
    """Replay every version from its snapshot; replace the run's rows of ``fraudcal.replay_daily`` in one transaction.

    Raises
    ------
    ReplayInputError
        If a version's data breaks the core's input contract (a label other than 0/1).
    """
    import numpy as np

    from fraudcal.inputs import InvalidOutcomesError
    from fraudcal_airflow.connections import fraud_db_connection
    from fraudcal_airflow.db.replay_daily import replace_run_rows

    first, last = replay_plan.days
    rows, facts, total = [], {}, 0.0
    for version in replay_plan.versions:
        columns = load_predictions(Path(extracted.snapshots[version]))
        frame, unusable = history_frame(columns, version)
        began = time.perf_counter()
        try:
            replayed = replay_version(replay_plan, frame)
        except InvalidOutcomesError as error:
            raise ReplayInputError(f"model_version {version}: {error}") from None
        seconds = time.perf_counter() - began
        total += seconds
        rows += table_rows(replay_plan, run, version, replayed)
        days = columns["predicted_at"].astype("datetime64[D]")
        in_period = (days >= np.datetime64(first)) & (days <= np.datetime64(last))
        facts[version] = asdict(
            VersionFacts(
                predictions=int(in_period.sum()),
                labeled=int((in_period & columns["labeled"]).sum()),
                unusable_probability=unusable,
                without_risk_level=int((in_period & ~columns["has_risk_level"]).sum()),
                first_prediction_day=str(days.min()) if days.size else None,
                history_rows=len(frame),
                replay_seconds=seconds,
            )
        )
        print(f"{version}: replayed {len(frame):,} rows, {len(replayed):,} day/method/class rows in {seconds:.2f} s")
    with fraud_db_connection() as conn:
        written = replace_run_rows(conn, run.run_id, rows)
    print(f"wrote {written:,} rows of fraudcal.replay_daily for run {run.run_id} (its earlier rows replaced)")
    return Replayed(written, total, facts)


# ------------------------------------------------------------------ report


@dataclass(frozen=True)
class ArchivedReplayReport:
    """A replay report archived in ``fraudcal.report_runs`` and ``folder``, ready to send."""

    report_id: int
    folder: str
    subject: str
    status: str
    recipients: list[str]
    charts: list[str]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def build_report(replay_plan: ReplayPlan, replayed: Replayed, run: RunInfo, *, folder: Path) -> ArchivedReplayReport:
    """Read the run's rows back, compute the verdicts, draw the charts, render and archive the report."""
    from fraudcal_airflow.connections import fraud_db_connection
    from fraudcal_airflow.db.replay_daily import rows_of_run
    from fraudcal_airflow.reporting import replay as report
    from fraudcal_airflow.reporting.archive import archive_report
    from fraudcal_airflow.reporting.mail import run_url

    first, last = replay_plan.days
    with fraud_db_connection() as conn:
        stored = rows_of_run(
            conn, run.run_id, replay_plan.model_type, [config["name"] for config in replay_plan.configs]
        )
        figures = report.build_figures(
            {version: stored[stored["model_version"] == version] for version in replay_plan.versions},
            replayed.facts,
            plan=replay_plan.as_dict(),
        )
        subject = report.subject_line(figures, replay_plan.model_type, first, last)
        charts = report.render_charts(figures)
        html = report.render_html(
            figures,
            {
                "subject": subject,
                "model_type": replay_plan.model_type,
                "date_from": first,
                "date_to": last,
                "dag_id": run.dag_id,
                "run_id": run.run_id,
                "run_url": run_url(run.dag_id, run.run_id),
                "chart_files": sorted(charts),
                "replay_seconds": replayed.replay_seconds,
                "rows_written": replayed.rows_written,
            },
        )
        report_id = archive_report(
            conn,
            folder,
            report_type=report.REPORT_TYPE,
            html=html,
            charts=charts,
            csv_text=report.figures_csv(stored),
            row={
                "dag_id": run.dag_id,
                "run_id": run.run_id,
                "model_type": replay_plan.model_type,
                "model_versions": replay_plan.versions,
                "date_from": first,
                "date_to": last,
                "status": figures["status"],
                "subject": subject,
                "recipients": replay_plan.recipients,
                "figures": figures,
            },
        )
    print(f"{subject}\narchived as fraudcal.report_runs id {report_id}: {folder / 'report.html'}")
    return ArchivedReplayReport(
        report_id, str(folder), subject, figures["status"], list(replay_plan.recipients), sorted(charts)
    )


def send_report(archived: Mapping[str, Any]) -> str:
    """Send the archived report through ``smtp_default``; record when the server accepted it.

    Returns the Message-ID (:func:`fraudcal_airflow.reporting.archive.send_archived`).
    """
    from fraudcal_airflow.reporting.archive import send_archived

    return send_archived(dict(archived), csv_name="replay_report.csv")
