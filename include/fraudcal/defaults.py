"""The supported values and defaults that every layer shares, each stated once.

The DAG Params, the UI page, the task steps and the SQL composition import these names
instead of repeating the numbers, so that a change here reaches all of them; the core's own
defaults (function parameters, :class:`fraudcal.drift.DriftThresholds`) are these names too.
This module imports nothing, so that DAG files can read it without loading numpy.

Examples
--------
>>> DEFAULT_LEVEL in SUPPORTED_LEVELS
True
"""

from __future__ import annotations

#: Coverage levels (percent) a calibration set holds and the report tables store.
SUPPORTED_LEVELS: tuple[int, ...] = (90, 95, 99)
#: Coverage level (percent) used when a single level is needed: intervals, widths, alerts.
DEFAULT_LEVEL = 90
#: An interval narrower than this (strictly) is "narrow": a HIGH/CRITICAL score then auto-tickets.
DEFAULT_NARROW_THRESHOLD = 0.2
#: Length in days of the calibration window ``[as_of - window, as_of)``.
DEFAULT_WINDOW_DAYS = 30
#: Fewest labeled outcomes in a window for a calibration set to be made at all.
DEFAULT_MIN_SAMPLES = 30
#: Hours a published calibration set lives in Redis before it expires.
DEFAULT_TTL_HOURS = 36
#: A model version whose newest calibration set is older than this (hours) is reported stale.
STALE_AFTER_HOURS = 36
#: Most prediction rows one backfill chunk (one transaction) may hold.
DEFAULT_CHUNK_SIZE = 100_000
#: Days a coverage report covers when no dates are given.
DEFAULT_REPORT_DAYS = 7
#: Days before the judged period that drift monitoring compares it against.
DEFAULT_REFERENCE_DAYS = 28
#: The conformal method of DESIGN.md section 4, the one the backfill, the reports and the UI read.
RESIDUAL_METHOD = "residual"
#: Drift alert: the trailing week's PR-AUC below ``(1 - this) x`` the reference PR-AUC.
DEFAULT_PR_AUC_DROP = 0.10
#: Drift warning: the day's scores have a PSI above this against the reference window.
DEFAULT_PSI_WARN = 0.1
#: Drift alert: the day's scores have a PSI above this against the reference window.
DEFAULT_PSI_ALERT = 0.25
#: Drift alert: a daily figure outside the reference days' mean +- this many standard deviations.
DEFAULT_BAND_SIGMAS = 3.0
#: Per-class (Mondrian) split conformal: one quantile per label, a coverage guarantee per class.
MONDRIAN_METHOD = "mondrian"
#: Inductive Venn-Abers: a calibrated probability interval ``[p0, p1]`` per score.
VENN_ABERS_METHOD = "venn_abers"
#: Mondrian label sets whose per-class miscoverage level adapts to drift (``fraudcal.aci``): its
#: state lives in ``fraudcal.aci_state``, and it adapts only as fast as labels mature.
MONDRIAN_ACI_METHOD = "mondrian_aci"
#: Every method a calibration set can carry, in the order the payload and reports list them.
METHODS: tuple[str, ...] = (RESIDUAL_METHOD, MONDRIAN_METHOD, VENN_ABERS_METHOD, MONDRIAN_ACI_METHOD)
#: The methods a calibration run computes unless its Params choose others (ACI is opt-in).
DEFAULT_METHODS: tuple[str, ...] = (RESIDUAL_METHOD, MONDRIAN_METHOD, VENN_ABERS_METHOD)
#: The methods the coverage report compares side by side (and a report's default_method may name);
#: mondrian_aci is compared on the history by replay_methods: its sets follow adaptive state.
REPORTED_METHODS: tuple[str, ...] = (RESIDUAL_METHOD, MONDRIAN_METHOD, VENN_ABERS_METHOD)
#: The method the online service uses unless a model's Params choose another.
DEFAULT_METHOD = MONDRIAN_METHOD

# ------------------------------------------------------------------ adaptive calibration and replay (issue 15)
#: ACI step size: how far one matured day's miscoverage moves a class's alpha (``fraudcal.aci``).
DEFAULT_ACI_GAMMA = 0.05
#: Days a prediction day waits before its labels join a calibration window (0: as soon as labeled).
DEFAULT_LABEL_MATURITY_DAYS = 0
#: Prediction days a daily label snapshot counts, up to and including its snapshot day.
LABEL_SNAPSHOT_HORIZON_DAYS = 90
#: Days a replay of the methods covers when no days are given.
DEFAULT_REPLAY_DAYS = 90

# ------------------------------------------------------------------ certified triage (issue 14)
#: Auto-ticket: the precision (share of frauds among auto-tickets) a certified threshold must reach.
DEFAULT_TICKET_PRECISION = 0.95
#: Auto-clear: the share of legitimate cases among auto-cleared scores (NPV) a certified threshold must reach.
DEFAULT_CLEAR_NPV = 0.999
#: Confidence of a triage certificate: P(the certified threshold misses its target) <= 1 - this.
DEFAULT_TRIAGE_CONFIDENCE = 0.90
#: A new certificate automating more than this times the window share of the thresholds in force waits for an operator.
DEFAULT_TRIAGE_JUMP_FACTOR = 2.0
#: What the online service does with a score (``fraudcal.triage``, copied in ``fraudcal.online``).
TRIAGE_ACTIONS: tuple[str, ...] = ("ticket", "review", "clear")
