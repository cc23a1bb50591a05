"""The steps of ``calibrate_fraud_model``.

For each model version: :func:`extract` a snapshot of the window's labeled outcomes →
:func:`validate` it (Great Expectations) → :func:`compute` the calibration set →
:func:`record` it in PostgreSQL → :func:`publish` it to Redis. A failure at any step leaves
everything after it undone: nothing is recorded without a valid snapshot, nothing is published
unless recorded. :func:`plan` lists the versions first and fixes the run's window (its label
maturity, :func:`label_maturity`); :func:`snapshot_labels` records the day's label snapshot and
:func:`repair_intervals` fills the day's NULL intervals afterwards.

The window
----------
With ``label_maturity_days = m`` (the Param, or what ``"auto"`` reads from the label
snapshots) the window of a run with ``as_of`` is ``[E - window_days, E)``, ``E =
fraudcal.maturity.matured_until(as_of, m)``: ``m = 0`` gives ``E = as_of`` (the window as it
always was); ``m > 0`` gives midnight UTC of as_of's date minus m days. The window keeps its
length and moves back (cutting it short instead would shrink n by m days of outcomes); the set
is still in force from ``as_of``.

mondrian_aci
------------
:func:`adapt_aci` moves each class's level (:mod:`fraudcal.aci`) from the newest state with an
earlier ``as_of`` (``fraudcal.aci_state``; none: the nominal level), applying, day by day, every
prediction day of the window that has matured (at most ``snapshot_day_for(as_of) - m``) and is
after the state's ``updated_through``: its labeled rows, each judged with the ``mondrian_aci``
set in force when it was predicted (the newest with ``as_of <= predicted_at``), give the misses
and counts per class. Rows without such a set in force are left out, and a day without any is
skipped (the first days of a version). The window's quantiles at the new levels are the
``mondrian_aci`` set.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fraudcal.defaults import (
    DEFAULT_ACI_GAMMA,
    DEFAULT_CLEAR_NPV,
    DEFAULT_LABEL_MATURITY_DAYS,
    DEFAULT_TICKET_PRECISION,
    DEFAULT_TRIAGE_CONFIDENCE,
    DEFAULT_TRIAGE_JUMP_FACTOR,
    RESIDUAL_METHOD,
)
from fraudcal_airflow.db.sources import CSV_SOURCE, DB_SOURCES
from fraudcal_airflow.errors import CalibrationInputError
from fraudcal_airflow.runtime import RunInfo

if TYPE_CHECKING:
    from fraudcal.calibration_set import CalibrationSet
    from fraudcal.maturity import MaturityChoice

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class CalibrationRequest:
    """The Params of ``calibrate_fraud_model``, checked."""

    model_type: str
    model_versions: tuple[str, ...]
    source: str
    csv_path: str | None
    window_days: int
    min_samples: int
    coverage_levels: tuple[int, ...]
    narrow_threshold: float
    ttl_hours: float
    publish: bool
    repair: bool
    repair_coverage_level: int
    replace_other_source: bool = False
    methods: tuple[str, ...] = (RESIDUAL_METHOD,)
    default_method: str = RESIDUAL_METHOD
    ticket_precision: float = DEFAULT_TICKET_PRECISION
    clear_npv: float = DEFAULT_CLEAR_NPV
    triage_confidence: float = DEFAULT_TRIAGE_CONFIDENCE
    triage_jump_factor: float = DEFAULT_TRIAGE_JUMP_FACTOR
    triage_approval: bool = True
    label_maturity_days: str | int = DEFAULT_LABEL_MATURITY_DAYS  # "auto" or the days, as requested
    aci_gamma: float = DEFAULT_ACI_GAMMA

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> CalibrationRequest:
        """Read the Params; refuse combinations the trigger form cannot refuse alone.

        Raises
        ------
        CalibrationInputError
            For a ``csv_path`` without ``source='csv'``, a window outside 1..365 days, or a
            ``label_maturity_days`` that is neither ``"auto"`` nor an integer in 0..365.
        """
        if params["csv_path"] and params["source"] != CSV_SOURCE:
            raise CalibrationInputError(
                f"csv_path {params['csv_path']!r} is only read with source='csv' (source is {params['source']!r})"
            )
        if not 1 <= params["window_days"] <= 365:
            raise CalibrationInputError(f"window_days={params['window_days']!r} must be an integer in 1..365")
        return cls(
            model_type=params["model_type"],
            model_versions=tuple(params["model_versions"] or ()),
            source=params["source"],
            csv_path=params["csv_path"],
            window_days=int(params["window_days"]),
            min_samples=int(params["min_samples"]),
            coverage_levels=coverage_levels(params["coverage_levels"]),
            narrow_threshold=float(params["narrow_threshold"]),
            ttl_hours=params["ttl_hours"],
            publish=bool(params["publish"]),
            repair=bool(params["repair"]),
            repair_coverage_level=int(params["repair_coverage_level"]),
            replace_other_source=bool(params.get("replace_other_source", False)),
            methods=selected_methods(params),
            default_method=params.get("default_method", RESIDUAL_METHOD),
            ticket_precision=float(params.get("ticket_precision", DEFAULT_TICKET_PRECISION)),
            clear_npv=float(params.get("clear_npv", DEFAULT_CLEAR_NPV)),
            triage_confidence=float(params.get("triage_confidence", DEFAULT_TRIAGE_CONFIDENCE)),
            triage_jump_factor=float(params.get("triage_jump_factor", DEFAULT_TRIAGE_JUMP_FACTOR)),
            triage_approval=bool(params.get("triage_approval", True)),
            label_maturity_days=checked_maturity(params.get("label_maturity_days", DEFAULT_LABEL_MATURITY_DAYS)),
            aci_gamma=float(params.get("aci_gamma", DEFAULT_ACI_GAMMA)),
        )


def checked_maturity(requested: Any) -> str | int:
    """The Param ``label_maturity_days`` as given, once :mod:`fraudcal.maturity` accepts it.

    Raises
    ------
    CalibrationInputError
        Naming the value and the rule (``"seven"``, ``"400"``, ``-1``, ``True``, ``7.5``).
    """
    from fraudcal.maturity import InvalidMaturityError, resolve_label_maturity

    try:
        resolve_label_maturity(requested, None)
    except InvalidMaturityError as error:
        raise CalibrationInputError(f"Param {error}; nothing was recorded or published") from None
    return requested


def coverage_levels(values: Any) -> tuple[int, ...]:
    """The Param ``coverage_levels`` as sorted distinct numbers (the form sends strings, REST may send numbers)."""
    return tuple(sorted({int(value) for value in values}))


def selected_methods(params: Mapping[str, Any]) -> tuple[str, ...]:
    """The Params ``methods`` and ``default_method``, checked; residual always comes first.

    The residual set is always computed and published: its numbers are the version-1 fields
    every payload reader relies on (DESIGN.md 3.3).

    Raises
    ------
    CalibrationInputError
        For an empty list, an unknown or repeated method, or a ``default_method`` not selected.
    """
    from fraudcal.methods import MethodSelectionError, checked_methods

    methods = list(params.get("methods") or [])
    default_method = params.get("default_method", RESIDUAL_METHOD)
    try:
        chosen = checked_methods(methods, default_method)
    except MethodSelectionError as error:
        raise CalibrationInputError(f"Params methods={methods!r}, default_method={default_method!r}: {error}") from None
    return (RESIDUAL_METHOD, *[method for method in chosen if method != RESIDUAL_METHOD])


@dataclass(frozen=True)
class VersionPlan:
    """One version to calibrate as of ``as_of``, and its window ``[window_start, window_end)`` (ISO 8601, UTC).

    ``window_end`` is ``as_of`` with ``label_maturity_days = 0`` (None reads as ``as_of``), and
    :func:`fraudcal.maturity.matured_until` of it otherwise.
    """

    model_version: str
    window_start: str
    as_of: str
    window_end: str | None = None
    label_maturity_days: int = DEFAULT_LABEL_MATURITY_DAYS

    @property
    def window(self) -> tuple[datetime, datetime]:
        """``(window_start, window_end)`` as datetimes."""
        return datetime.fromisoformat(self.window_start), datetime.fromisoformat(self.window_end or self.as_of)

    @property
    def as_of_time(self) -> datetime:
        """``as_of`` as a datetime: from when the version's sets are in force."""
        return datetime.fromisoformat(self.as_of)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> VersionPlan:
        return cls(
            values["model_version"],
            values["window_start"],
            values["as_of"],
            values.get("window_end"),
            int(values.get("label_maturity_days", DEFAULT_LABEL_MATURITY_DAYS)),
        )


@dataclass(frozen=True)
class Snapshot:
    """A version's labeled outcomes, written to ``path`` (``.npz``); ``n`` rows."""

    plan: VersionPlan
    path: str
    n: int
    validation: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        return {**self.plan.as_dict(), "snapshot": self.path, "n": self.n, "validation": self.validation}

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> Snapshot:
        return cls(VersionPlan.from_dict(values), values["snapshot"], values["n"], values.get("validation"))


def _read_csv(request: CalibrationRequest, import_dir: Path | None):
    """The request's CSV, which must lie in ``import_dir`` (default: ``FRAUDCAL_IMPORT_DIR``)."""
    from fraudcal_airflow import outcomes, paths

    return outcomes.read_csv_outcomes(outcomes.resolve_csv_path(request.csv_path, import_dir or paths.import_dir()))


def check_as_of(as_of: datetime, now: datetime) -> None:
    """Refuse an ``as_of`` later than ``now``.

    A set published with a future ``as_of`` would make every later daily run end ``stale``
    (the publish is monotone in ``as_of``) and freeze the live set until that date.

    Raises
    ------
    CalibrationInputError
    """
    if as_of > now:
        raise CalibrationInputError(
            f"as_of {as_of:%Y-%m-%d %H:%M} UTC (the run's data interval end) is later than now "
            f"({now:%Y-%m-%d %H:%M} UTC): a set for a future date would freeze the live set until then; "
            "trigger the run for a past or current date"
        )


def plan(
    request: CalibrationRequest, as_of: datetime, *, import_dir: Path | None = None, now: datetime | None = None
) -> list[VersionPlan]:
    """Apply fraudcal's migrations, fix the window, and list the versions to calibrate as of ``as_of``.

    The window is ``[window_end - window_days, window_end)`` with ``window_end =
    matured_until(as_of, m)`` for the label maturity ``m`` of :func:`label_maturity` (the
    module docstring); its reason is printed. An empty request means every version with
    labeled outcomes in the window. A requested version that never logged a prediction is an
    input error (bound as a query parameter, so a value such as ``"v1'; DROP TABLE ..."`` is
    only ever compared, never executed). An ``as_of`` later than ``now`` (default: the current
    time) is refused (:func:`check_as_of`).
    """
    from datetime import UTC

    from fraudcal.maturity import matured_until
    from fraudcal_airflow.connections import fraud_db_connection
    from fraudcal_airflow.db import prediction_log
    from fraudcal_airflow.db.migrations import apply_migrations

    check_as_of(as_of, now or datetime.now(UTC))
    with fraud_db_connection() as conn:
        apply_migrations(conn)
        maturity = label_maturity(conn, request, as_of)
        window_end = matured_until(as_of, maturity.days)
        window_start = window_end - timedelta(days=request.window_days)
        if request.source in DB_SOURCES:
            known = prediction_log.known_versions(conn, request.source, request.model_type)
            available = prediction_log.versions_with_outcomes(
                conn, request.source, request.model_type, window_start, window_end
            )
    print(f"label maturity: {maturity.reason}")
    if request.source not in DB_SOURCES:
        frame = _read_csv(request, import_dir)
        of_type = frame[frame["model_type"] == request.model_type]
        known = sorted(of_type["model_version"].dropna().unique().tolist())
        in_window = of_type[(of_type["predicted_at"] >= window_start) & (of_type["predicted_at"] < window_end)]
        available = sorted(in_window["model_version"].dropna().unique().tolist())
    if request.model_versions:
        versions = prediction_log.resolve_versions(
            request.model_versions, known, request.model_type, request.source, CalibrationInputError
        )
    else:
        versions = available
        if not versions:
            log.warning(
                "No model version of %r has labeled outcomes in [%s, %s) of source %r: nothing to calibrate.",
                request.model_type,
                window_start,
                window_end,
                request.source,
            )
    print(
        f"as_of {as_of.isoformat()}, window [{window_start.isoformat()}, {window_end.isoformat()}) "
        f"(label maturity {maturity.days} days); versions: {versions}"
    )
    return [
        VersionPlan(version, window_start.isoformat(), as_of.isoformat(), window_end.isoformat(), maturity.days)
        for version in versions
    ]


def label_maturity(conn: Any, request: CalibrationRequest, as_of: datetime) -> MaturityChoice:
    """The label maturity the run applies, and why (:func:`fraudcal.maturity.resolve_label_maturity`).

    A number is taken as it is. ``"auto"`` reads the arrival curve of the label snapshots of
    the model type (the requested versions, or all, pooled) recorded for snapshot days
    *before* this run's own (``snapshot_day_for(as_of) - 1`` and older): this run's snapshot
    is written by its task ``snapshot_labels`` after the plan, and a re-run of the date must
    resolve the same maturity, whether or not that snapshot exists by then. Without a curve
    that tells (no snapshots, too little history), ``"auto"`` falls back to 0 days and says so.
    """
    from fraudcal.maturity import AUTO, arrival_curve, resolve_label_maturity, snapshot_day_for
    from fraudcal_airflow.db.maturity import read_snapshots

    if request.label_maturity_days != AUTO:
        return resolve_label_maturity(request.label_maturity_days, None)
    until = snapshot_day_for(as_of) - timedelta(days=1)
    snapshots = read_snapshots(conn, request.model_type, request.model_versions or None, until)
    curve = arrival_curve(snapshots) if len(snapshots) else None
    choice = resolve_label_maturity(AUTO, curve, fallback_days=0)
    seen = f"snapshots of {snapshots['snapshot_day'].nunique()} day(s) up to {until}" if len(snapshots) else "no snapshots"
    return replace(choice, reason=f"{choice.reason} [{seen}]")


def extract(
    request: CalibrationRequest, version: VersionPlan, run: RunInfo, *, import_dir: Path | None = None
) -> Snapshot:
    """Snapshot the version's labeled outcomes of the window into the run's artifacts folder."""
    from fraudcal_airflow import outcomes
    from fraudcal_airflow.paths import run_folder

    window_start, window_end = version.window
    if request.source == CSV_SOURCE:
        labeled = outcomes.csv_outcomes(
            _read_csv(request, import_dir), request.model_type, version.model_version, window_start, window_end
        )
    else:
        from fraudcal_airflow.connections import fraud_db_copy_connection
        from fraudcal_airflow.db.prediction_log import extract_outcomes

        copy_conn = fraud_db_copy_connection()
        try:
            labeled = extract_outcomes(
                copy_conn, request.source, request.model_type, version.model_version, window_start, window_end
            )
        finally:
            copy_conn.close()
    folder = run_folder("snapshots", run.dag_id, run.run_id, version.model_version)
    path = outcomes.save_snapshot(labeled, folder / "labeled_outcomes.npz")
    frauds = int((labeled.labels == 1).sum())
    print(f"{request.model_type}/{version.model_version}: {len(labeled)} labeled outcomes, {frauds} fraud; snapshot {path}")
    return Snapshot(version, str(path), len(labeled))


def validate(request: CalibrationRequest, snapshot: Snapshot, run: RunInfo) -> Snapshot:
    """Run the labeled-outcomes suite (Great Expectations) on the snapshot.

    The Data Docs go to the run's artifacts folder (``data_docs/...``).

    Raises
    ------
    CalibrationInputError
        Naming every broken rule; nothing is recorded or published for the version.
    """
    from fraudcal_airflow.outcomes import load_snapshot
    from fraudcal_airflow.paths import run_folder
    from fraudcal_airflow.validation import validate_outcomes

    window_start, window_end = snapshot.plan.window
    version = snapshot.plan.model_version
    report = validate_outcomes(
        load_snapshot(Path(snapshot.path)).to_frame(),
        name=f"{request.model_type}/{version}",
        min_samples=request.min_samples,
        window_start=window_start,
        window_end=window_end,
        docs_dir=run_folder("data_docs", run.dag_id, run.run_id, version),
    )
    if not report.success:
        lines = "\n  - ".join(report.failures)
        print(f"validation failed; Great Expectations Data Docs: file://{report.data_docs}")
        raise CalibrationInputError(
            f"labeled outcomes of {request.model_type}/{version} in [{window_start:%Y-%m-%d}, {window_end:%Y-%m-%d}) "
            f"failed validation; nothing was recorded or published and the live Redis set is unchanged:\n  - {lines}"
        )
    print(f"validation passed; Great Expectations Data Docs: file://{report.data_docs}")
    return Snapshot(snapshot.plan, snapshot.path, snapshot.n, report.summary())


def compute(request: CalibrationRequest, snapshot: Snapshot) -> ComputedSets:
    """Compute the version's set for each selected method, and write them next to the snapshot.

    One window, one set per method (``residual`` always): q and k per level, the per-class
    quantiles (``mondrian``), the step functions p0/p1 (``venn_abers``), with the window's ECE,
    Brier and statistics on each; ``mondrian_aci`` adapts its levels first (:func:`adapt_aci`,
    which reads the version's state and the sets in force). The window's certified triage
    thresholds (:func:`fraudcal.triage.certify_triage`) go with them. They travel to the record
    task as a JSON file (a Venn-Abers set of a million rows is megabytes: too large for XCom).
    """
    import json

    from fraudcal.calibration_set import compute_calibration_set
    from fraudcal.defaults import MONDRIAN_ACI_METHOD, MONDRIAN_METHOD, VENN_ABERS_METHOD
    from fraudcal.mondrian import compute_mondrian
    from fraudcal.triage import certify_triage
    from fraudcal.venn_abers import fit_venn_abers
    from fraudcal_airflow.outcomes import load_snapshot

    window_start, window_end = snapshot.plan.window
    labeled = load_snapshot(Path(snapshot.path))
    residual = compute_calibration_set(
        labeled.probabilities,
        labeled.labels,
        model_type=request.model_type,
        model_version=snapshot.plan.model_version,
        window_start=window_start,
        window_end=window_end,
        levels=request.coverage_levels,
        narrow_threshold=request.narrow_threshold,
        min_samples=request.min_samples,
        source=request.source,
        as_of=snapshot.plan.as_of_time,
        label_maturity_days=snapshot.plan.label_maturity_days,
    )
    residual = replace(residual, validation=snapshot.validation or {})
    sets = {RESIDUAL_METHOD: residual}
    if MONDRIAN_METHOD in request.methods:
        mondrian = compute_mondrian(labeled.probabilities, labeled.labels, request.coverage_levels)
        sets[MONDRIAN_METHOD] = replace(residual, method=MONDRIAN_METHOD, levels=mondrian.to_dict()["levels"])
        too_few = [level for level, entry in mondrian.levels.items() if entry["too_few_frauds"]]
        if too_few:
            print(f"mondrian: too few frauds ({residual.n_positive}) to ever exclude a label at level(s) {too_few}")
    if VENN_ABERS_METHOD in request.methods:
        venn_abers = fit_venn_abers(labeled.probabilities, labeled.labels)
        sets[VENN_ABERS_METHOD] = replace(residual, method=VENN_ABERS_METHOD, levels=venn_abers.to_dict())
    aci_states: dict[str, Any] = {}
    if MONDRIAN_ACI_METHOD in request.methods:
        from fraudcal_airflow.connections import fraud_db_connection

        with fraud_db_connection() as conn:
            aci_set_levels, aci_states = adapt_aci(conn, request, snapshot.plan, labeled)
        sets[MONDRIAN_ACI_METHOD] = replace(residual, method=MONDRIAN_ACI_METHOD, levels=aci_set_levels)
    triage = certify_triage(
        labeled.probabilities,
        labeled.labels,
        target_precision=request.ticket_precision,
        target_npv=request.clear_npv,
        confidence=request.triage_confidence,
    )
    stored = {method: cs.to_dict() for method, cs in sets.items()} | {
        TRIAGE_KEY: triage.to_dict(),
        ACI_STATES_KEY: aci_states,
    }
    path = Path(snapshot.path).with_name("calibration_sets.json")
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(stored), encoding="utf-8")
    partial.replace(path)
    print(f"residual levels {residual.levels}, calibration_score {residual.calibration_score:.4f}; methods {list(sets)}")
    print(f"triage: ticket - {triage.ticket.reason}; clear - {triage.clear.reason}")
    return ComputedSets(snapshot.plan, str(path), tuple(sets), snapshot.path)


#: The key of the window's triage certificates in the computed sets' JSON file.
TRIAGE_KEY = "triage"
#: The key of the ACI states (per level: ``state``, ``applied``) in the computed sets' JSON file.
ACI_STATES_KEY = "aci_states"


def matured_day_errors(
    predicted_at: Any,
    probabilities: Any,
    labels: Any,
    set_as_ofs: Any,
    set_quantiles: tuple[Any, Any],
    *,
    after: Any,
    through: Any,
) -> list[dict[str, Any]]:
    """Per matured prediction day, the misses and labeled rows of each class under the sets in force.

    Parameters
    ----------
    predicted_at : ndarray of datetime64 (UTC)
        The window's labeled rows; with ``probabilities`` and 0/1 ``labels``.
    set_as_ofs : ndarray of datetime64, sorted
        The ``as_of`` of the ``mondrian_aci`` sets that may be in force for them.
    set_quantiles : (ndarray, ndarray)
        Per set, ``q_0`` and ``q_1`` of the level (NaN: the set lacks the level).
    after, through : numpy.datetime64 (days) or None
        Days strictly after ``after`` (None: no bound) and up to ``through`` (the newest matured day).

    Returns
    -------
    list of dict
        ``{"day": ISO date, "misses": {"0", "1"}, "counts": {"0", "1"}}`` for each day with a
        row judged, oldest first. A row is judged with the newest set with ``as_of <=
        predicted_at``; a fraud is missed when ``1 - p > q_1``, a legitimate case when ``p >
        q_0`` (exactly the Mondrian label-set rule). Rows without a set in force are left out.
    """
    import numpy as np

    days = predicted_at.astype("datetime64[D]")
    position = np.searchsorted(set_as_ofs, predicted_at, side="right") - 1
    q_zero = np.asarray(set_quantiles[0], dtype=np.float64)
    q_one = np.asarray(set_quantiles[1], dtype=np.float64)
    has_set = position >= 0
    index = np.where(has_set, position, 0)
    if q_zero.size:
        has_set &= np.isfinite(q_zero[index]) & np.isfinite(q_one[index])
    judged = has_set & (days <= through)
    if after is not None:
        judged &= days > after
    if not judged.any():
        return []
    fraud = np.asarray(labels)[judged] == 1
    p = np.asarray(probabilities)[judged]
    missed = np.where(fraud, (1.0 - p) > q_one[index[judged]], p > q_zero[index[judged]])
    unique, inverse = np.unique(days[judged], return_inverse=True)
    sizes = unique.size

    def per_day(mask: Any) -> list[int]:
        return np.bincount(inverse[mask], minlength=sizes).tolist()

    counts = {"0": per_day(~fraud), "1": per_day(fraud)}
    misses = {"0": per_day(~fraud & missed), "1": per_day(fraud & missed)}
    return [
        {
            "day": str(day),
            "misses": {label: misses[label][i] for label in ("0", "1")},
            "counts": {label: counts[label][i] for label in ("0", "1")},
        }
        for i, day in enumerate(unique)
    ]


def adapt_aci(conn: Any, request: CalibrationRequest, plan: VersionPlan, labeled: Any) -> tuple[dict, dict]:
    """The ``mondrian_aci`` levels of the window, and per level the state reached (module docstring).

    Per coverage level: the newest state of the version with an earlier ``as_of``
    (:func:`fraudcal_airflow.db.aci.previous_states`; none: :func:`fraudcal.aci.initial_state`),
    with this run's ``aci_gamma``; then :func:`fraudcal.aci.update_state` for each matured day
    of :func:`matured_day_errors`, clipped to the band of this window's class sizes; then
    :func:`fraudcal.aci.aci_quantiles` on the window. Prints what moved, and any class whose
    clip bound (``saturated``, also in the set's levels).

    Returns
    -------
    levels : dict
        The set's levels (:func:`fraudcal.calibration_set.aci_levels` layout).
    states : dict
        Per level (``"90"``): ``{"state": AciState.to_dict(), "applied": [...], "previous_as_of"}``.
    """
    from datetime import UTC

    import numpy as np

    from fraudcal.aci import AciState, aci_quantiles, initial_state, update_state
    from fraudcal.defaults import MONDRIAN_ACI_METHOD
    from fraudcal.maturity import snapshot_day_for
    from fraudcal_airflow.db.aci import previous_states
    from fraudcal_airflow.db.calibration_sets import sets_in_force_during

    as_of = plan.as_of_time
    window_start, window_end = plan.window
    previous = previous_states(conn, request.model_type, plan.model_version, as_of)
    set_as_ofs, set_levels = sets_in_force_during(
        conn, request.model_type, plan.model_version, MONDRIAN_ACI_METHOD, window_start, window_end
    )
    newest_mature = np.datetime64(snapshot_day_for(as_of) - timedelta(days=plan.label_maturity_days), "D")
    predicted_at = np.asarray(labeled.predicted_at).astype("datetime64[us]")
    p, y = labeled.probabilities, labeled.labels
    class_sizes = {"0": int((y != 1).sum()), "1": int((y == 1).sum())}
    levels, states = {}, {}
    for level in request.coverage_levels:
        key = str(level)
        row = previous.get(key)
        state = initial_state(level, request.aci_gamma)
        if row is not None:
            state = replace(AciState.from_dict(row["state"]), gamma=request.aci_gamma)
        quantiles = tuple(
            np.array([float(entry[key][label]["quantile"]) if key in entry else np.nan for entry in set_levels])
            for label in ("0", "1")
        )
        after = None if state.updated_through is None else np.datetime64(state.updated_through, "D")
        applied = matured_day_errors(
            predicted_at, p, y, set_as_ofs, quantiles, after=after, through=newest_mature
        )
        for day in applied:
            state = update_state(state, day["day"], day["misses"], day["counts"], class_sizes=class_sizes)
        entry = aci_quantiles(p, y, state)["levels"][key]
        for label in ("0", "1"):
            entry[label]["saturated"] = state.saturated[label]
        levels[key] = {**entry, "gamma": state.gamma, "updated_through": state.updated_through}
        states[key] = {
            "state": state.to_dict(),
            "applied": applied,
            "previous_as_of": None if row is None else row["as_of"].astimezone(UTC).isoformat(),
        }
        days = f"{applied[0]['day']}..{applied[-1]['day']}" if applied else "none"
        print(
            f"mondrian_aci {key} %: alpha legitimate {state.alpha['0']:.6g}, fraud {state.alpha['1']:.6g} "
            f"(gamma {state.gamma:g}, target {state.target:g}); matured days applied: {len(applied)} ({days}), "
            f"updated through {state.updated_through or 'no day yet'} (days before any mondrian_aci set was in "
            "force are skipped)"
        )
        for label, name in (("1", "fraud"), ("0", "legitimate")):
            if state.saturated[label]:
                print(
                    f"mondrian_aci {key} %: the {name} class SATURATED: its alpha was clipped to {state.alpha[label]:.6g} "
                    f"(the band of a window with {class_sizes[label]} rows of the class); the long-run ACI bound does "
                    "not hold while it stays clipped"
                )
    return levels, states


@dataclass(frozen=True)
class ComputedSets:
    """A version's sets, one per method, written to ``path`` (JSON: method -> ``CalibrationSet.to_dict()``)."""

    plan: VersionPlan
    path: str
    methods: tuple[str, ...]
    snapshot: str

    def as_dict(self) -> dict[str, Any]:
        return {**self.plan.as_dict(), "sets": self.path, "methods": list(self.methods), "snapshot": self.snapshot}

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> ComputedSets:
        return cls(VersionPlan.from_dict(values), values["sets"], tuple(values["methods"]), values["snapshot"])

    def load_triage(self) -> dict[str, Any]:
        """The window's triage certificates (``TriageCertificate.to_dict()``)."""
        import json

        return json.loads(Path(self.path).read_text(encoding="utf-8"))[TRIAGE_KEY]

    def load_aci_states(self) -> dict[str, Any]:
        """Per level, the ACI state the ``mondrian_aci`` set was computed at (empty without it)."""
        import json

        return json.loads(Path(self.path).read_text(encoding="utf-8")).get(ACI_STATES_KEY, {})

    def load(self) -> dict[str, CalibrationSet]:
        """The sets, by method, residual first."""
        import json

        from fraudcal.calibration_set import CalibrationSet

        stored = json.loads(Path(self.path).read_text(encoding="utf-8"))
        return {method: CalibrationSet.from_dict(stored[method]) for method in self.methods}


@dataclass(frozen=True)
class RecordedSet:
    """A version's recorded sets: their row ids by method, and whether this run wrote any."""

    model_type: str
    model_version: str
    as_of: str
    calibration_set_ids: dict[str, int]
    changed: bool = True
    triage_status: str | None = None

    @property
    def asset_extra(self) -> dict[str, Any]:
        """What the ``fraudcal_calibration_sets`` event carries: which sets, and whether they are new.

        ``calibration_set_id`` is the residual set's (the payload's); ``changed`` is false when
        identical sets were already stored (a re-run over unchanged data): ``report_coverage``
        then has nothing new to mail.
        """
        return {
            "model_type": self.model_type,
            "model_version": self.model_version,
            "as_of": self.as_of,
            "calibration_set_id": self.calibration_set_ids[RESIDUAL_METHOD],
            "calibration_set_ids": dict(self.calibration_set_ids),
            "changed": self.changed,
            "triage_status": self.triage_status,
        }

    def as_dict(self) -> dict[str, Any]:
        return {
            "model_type": self.model_type,
            "model_version": self.model_version,
            "as_of": self.as_of,
            "calibration_set_ids": dict(self.calibration_set_ids),
            "changed": self.changed,
            "triage_status": self.triage_status,
        }


def record(computed: Mapping[str, Any], request: CalibrationRequest, run: RunInfo) -> RecordedSet:
    """Record each method's set in ``fraudcal.calibration_sets``, in one transaction per set.

    A set is never recorded over another source's set without ``replace_other_source``
    (:func:`fraudcal_airflow.db.calibration_sets.record_calibration_set`). The window's triage
    certificates are recorded with them, and either take force or wait for an operator
    (:func:`fraudcal_airflow.steps.triage.record_triage`), and so are the ACI states of a
    ``mondrian_aci`` set (:func:`record_aci_states`).
    """
    from fraudcal.calibration_set import utc_timestamp
    from fraudcal.defaults import MONDRIAN_ACI_METHOD
    from fraudcal_airflow.connections import fraud_db_connection
    from fraudcal_airflow.db.calibration_sets import record_calibration_set
    from fraudcal_airflow.outcomes import load_snapshot
    from fraudcal_airflow.steps.triage import record_triage

    computed_sets = ComputedSets.from_dict(computed)
    sets = computed_sets.load()
    ids, written = {}, []
    with fraud_db_connection() as conn:
        for method, calibration_set in sets.items():
            row = record_calibration_set(
                conn,
                calibration_set,
                dag_id=run.dag_id,
                run_id=run.run_id,
                replace_other_source=request.replace_other_source,
            )
            ids[method] = int(row["id"])
            # An identical set already stored is returned as it was, with the run that wrote it.
            written.append((row["dag_id"], row["run_id"]) == (run.dag_id, run.run_id))
        residual = sets[RESIDUAL_METHOD]
        if MONDRIAN_ACI_METHOD in ids:
            written += record_aci_states(
                conn, residual, computed_sets.load_aci_states(), ids[MONDRIAN_ACI_METHOD], request, run
            )
        triage = record_triage(
            conn,
            model_type=residual.model_type,
            model_version=residual.model_version,
            as_of=residual.as_of,
            window_start=residual.window_start,
            source=residual.source,
            scores=load_snapshot(Path(computed_sets.snapshot)).probabilities,
            certificates=computed_sets.load_triage(),
            jump_factor=request.triage_jump_factor,
            approval=request.triage_approval,
            run=run,
        )
        written.append((triage["dag_id"], triage["run_id"]) == (run.dag_id, run.run_id))
    changed = any(written)
    state = "recorded" if changed else "already stored, unchanged:"
    print(f"{state} calibration sets {ids} (as_of {utc_timestamp(residual.as_of)})")
    return RecordedSet(
        residual.model_type, residual.model_version, utc_timestamp(residual.as_of), ids, changed, triage["status"]
    )


def record_aci_states(
    conn: Any,
    residual: CalibrationSet,
    states: Mapping[str, Mapping[str, Any]],
    calibration_set_id: int,
    request: CalibrationRequest,
    run: RunInfo,
) -> list[bool]:
    """Record the version's ACI state per level (``fraudcal.aci_state``); per level, whether this run wrote it.

    An identical current state of the same ``as_of`` (a re-run) is left as it was.
    """
    from fraudcal_airflow.db.aci import record_state

    written = []
    for level, computed in states.items():
        state = computed["state"]
        row = record_state(
            conn,
            {
                "model_type": residual.model_type,
                "model_version": residual.model_version,
                "level": level,
                "as_of": residual.as_of,
                "state": state,
                "gamma": state["gamma"],
                "updated_through": state["updated_through"],
                "updates": state["updates"],
                "legitimate_alpha": state["alpha"]["0"],
                "fraud_alpha": state["alpha"]["1"],
                "legitimate_saturated": state["saturated"]["0"],
                "fraud_saturated": state["saturated"]["1"],
                "applied": computed["applied"],
                "label_maturity_days": residual.label_maturity_days,
                "source": residual.source,
                "calibration_set_id": calibration_set_id,
                "dag_id": run.dag_id,
                "run_id": run.run_id,
            },
        )
        written.append((row["dag_id"], row["run_id"]) == (run.dag_id, run.run_id))
    print(f"ACI states {sorted(states)} of {residual.model_version}: {'recorded' if any(written) else 'unchanged'}")
    return written


def build_payload(
    conn: Any, recorded: Mapping[str, Any], default_method: str
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The Redis payload (schema version 2) and its companion, from the recorded rows.

    Its ``triage`` object holds the thresholds in force and any pending ones
    (:func:`fraudcal_airflow.steps.triage.payload_triage`); ``label_maturity_days`` is the
    recorded sets' (the maturity their window was cut with).
    """
    from fraudcal.calibration_set import calibration_payload
    from fraudcal.defaults import MONDRIAN_ACI_METHOD, MONDRIAN_METHOD, VENN_ABERS_METHOD
    from fraudcal.mondrian import MondrianSet
    from fraudcal.payload import payload_v2
    from fraudcal.venn_abers import VennAbersSet
    from fraudcal_airflow.db.calibration_sets import sets_by_id
    from fraudcal_airflow.steps.triage import payload_triage

    rows = sets_by_id(conn, list(recorded["calibration_set_ids"].values()))
    by_method = {method: rows[set_id] for method, set_id in recorded["calibration_set_ids"].items()}
    mondrian = by_method.get(MONDRIAN_METHOD)
    venn_abers = by_method.get(VENN_ABERS_METHOD)
    mondrian_aci = by_method.get(MONDRIAN_ACI_METHOD)
    residual = by_method[RESIDUAL_METHOD]
    return payload_v2(
        calibration_payload(residual),
        MondrianSet.from_dict({"levels": mondrian["levels"]}) if mondrian else None,
        VennAbersSet.from_dict(venn_abers["levels"]) if venn_abers else None,
        default_method,
        triage=payload_triage(conn, residual["model_type"], residual["model_version"], residual["as_of"]),
        mondrian_aci={"levels": mondrian_aci["levels"]} if mondrian_aci else None,
        label_maturity_days=residual["label_maturity_days"],
    )


def publish(request: CalibrationRequest, recorded: Mapping[str, Any]) -> str:
    """Publish the version's payload atomically; never over a newer as_of; keep :previous; announce.

    The payload (schema version 2) holds every recorded method, the residual one's numbers in
    the version-1 fields; a Venn-Abers part too large for 64 KB goes to the companion key in
    the same atomic step. A live set computed from another source (e.g. the fraud log, when
    this set comes from a CSV) is replaced only with ``replace_other_source``; otherwise the run
    fails here, the sets stay recorded (not published) and the live set is untouched. A set
    that is live after the publish gets ``published_at`` in the table. Returns the outcome.

    Raises
    ------
    CalibrationInputError
        When the live set came from another source and ``replace_other_source`` is off.
    """
    from fraudcal_airflow.connections import calibration_redis, fraud_db_connection
    from fraudcal_airflow.db.calibration_sets import mark_published
    from fraudcal_airflow.publish import PublishOutcome, live_key, publish_calibration_set, read_live_payload

    key = live_key(recorded["model_type"], recorded["model_version"])
    if not request.publish:
        print(f"publish=false: {key} left as it is")
        return "not_published"
    with fraud_db_connection() as conn:
        payload, companion = build_payload(conn, recorded, request.default_method)
    client = calibration_redis()
    live = read_live_payload(client, payload["model_type"], payload["model_version"])
    if live is not None and live.get("source") != payload["source"] and not request.replace_other_source:
        raise CalibrationInputError(
            f"{key} serves a set computed from source {live.get('source')!r} (as_of {live.get('as_of')}, "
            f"n={live.get('n')}); this set (id {payload['calibration_set_id']}) comes from {payload['source']!r} "
            "and replaces it only with the Param replace_other_source=true. It is recorded, not published."
        )
    outcome = publish_calibration_set(client, payload, request.ttl_hours, companion)
    if outcome != PublishOutcome.STALE:
        with fraud_db_connection() as conn:
            for set_id in recorded["calibration_set_ids"].values():
                mark_published(conn, set_id)
    where = " (Venn-Abers in the companion key)" if companion else ""
    print(f"{key}: {outcome.value} (as_of {payload['as_of']}, methods {sorted(payload['methods'])}){where}")
    return outcome.value


@dataclass(frozen=True)
class LabelSnapshot:
    """What :func:`snapshot_labels` did: the snapshot day, the rows it wrote, or why it wrote none."""

    snapshot_day: str | None
    rows_written: int
    horizon_days: int
    skipped: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def snapshot_labels(request: CalibrationRequest, run: RunInfo) -> LabelSnapshot:
    """Record the day's label snapshot of the model type (``fraudcal.label_snapshots``).

    For the snapshot day of the run's ``as_of`` (the day before it), one row per version and
    prediction day of the :data:`fraudcal.defaults.LABEL_SNAPSHOT_HORIZON_DAYS` prediction days
    up to it (predictions made before as_of's date only, also in an Airflow backfill run):
    predictions, labeled, frauds, as the log stands now
    (:func:`fraudcal_airflow.db.maturity.record_snapshot`, one aggregate). Once per run, for
    every version; a re-run of the day writes nothing (rows are never rewritten). A CSV source
    has no log to count: nothing is written, and the run says so.
    """
    from fraudcal.defaults import LABEL_SNAPSHOT_HORIZON_DAYS
    from fraudcal_airflow.connections import fraud_db_connection
    from fraudcal_airflow.db.maturity import record_snapshot, snapshot_period

    if request.source == CSV_SOURCE:
        reason = "a CSV source has no prediction log to count labels in: no label snapshot is recorded"
        print(reason)
        return LabelSnapshot(None, 0, LABEL_SNAPSHOT_HORIZON_DAYS, reason)
    day, time_from, time_to = snapshot_period(run.as_of, LABEL_SNAPSHOT_HORIZON_DAYS)
    with fraud_db_connection() as conn:
        written = record_snapshot(conn, request.source, request.model_type, run.as_of, LABEL_SNAPSHOT_HORIZON_DAYS)
    print(
        f"label snapshot of {request.model_type} for {day} (predictions in [{time_from:%Y-%m-%d}, {time_to:%Y-%m-%d}) "
        f"of {request.source}): {written} row(s) written"
        + ("" if written else " (none new: the day was recorded before, and a snapshot is never rewritten; or no predictions)")
    )
    return LabelSnapshot(day.isoformat(), written, LABEL_SNAPSHOT_HORIZON_DAYS)


def repair_versions(conn: Any, request: CalibrationRequest) -> list[str]:
    """The versions whose NULL intervals a run repairs: the requested ones, else every known one."""
    from fraudcal_airflow.db.prediction_log import requested_or_known_versions

    return requested_or_known_versions(
        conn, request.source, request.model_type, request.model_versions, CalibrationInputError
    )


def repair_intervals(request: CalibrationRequest, run: RunInfo) -> int:
    """Fill the data interval's predictions the online service left without an interval.

    Uses the backfill's as-of UPDATE over the data interval, overwrite off: a prediction made
    at t gets the newest set with as_of <= t, so the set this run computes (as_of = the
    interval end) is never used for the interval's own predictions. A version is only repaired
    when the day's own set (as_of = the interval start) exists, so that rows are never filled
    from an older set because the right one is not computed yet. Airflow backfill runs skip
    the repair (history is ``backfill_prediction_intervals``' job), and so does a CSV source
    (a file has no interval columns). Returns the rows written.
    """
    from fraudcal_airflow.connections import fraud_db_connection
    from fraudcal_airflow.db import intervals
    from fraudcal_airflow.db.calibration_sets import versions_with_set_at

    if not request.repair or run.is_backfill:
        print("repair skipped (repair=false, or an Airflow backfill run: backfill_prediction_intervals fills history)")
        return 0
    if request.source == CSV_SOURCE:
        print("nothing to repair (a CSV source has no interval columns)")
        return 0
    time_to = run.as_of
    start = run.interval_start
    time_from = start if start is not None and start < time_to else time_to - timedelta(days=1)
    with fraud_db_connection() as conn:
        versions = repair_versions(conn, request)
        ready = versions_with_set_at(conn, request.model_type, versions, RESIDUAL_METHOD, time_from)
        for version in sorted(set(versions) - set(ready)):
            print(f"{version}: no calibration set with as_of {time_from:%Y-%m-%d %H:%M} yet; its day is left to the backfill")
        if not ready:
            return 0
        backfill = intervals.BackfillRequest(
            source=request.source,
            model_type=request.model_type,
            model_versions=tuple(ready),
            time_from=time_from,
            time_to=time_to,
            coverage_level=request.repair_coverage_level,
            overwrite=False,
        )
        chunks, rows = intervals.plan_chunks(conn, backfill)
        written = sum(intervals.apply_chunk(conn, backfill, chunk) for chunk in chunks)
        unfilled = intervals.unfilled_by_reason(conn, backfill)
    print(
        f"repaired {written:,} of {rows:,} NULL intervals in [{time_from:%Y-%m-%d %H:%M}, {time_to:%Y-%m-%d %H:%M}); "
        f"still unfilled: {unfilled or 'none'}"
    )
    return written
