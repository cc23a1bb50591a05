"""fraudcal: conformal calibration of a fraud model's scores.

The core library. It works on arrays of predicted probabilities and labels and knows
nothing of Airflow, PostgreSQL, Redis or Great Expectations, so every number it produces
can be checked in a plain Python session. It checks its inputs at its own door
(:mod:`fraudcal.inputs`) and holds the defaults every layer shares (:mod:`fraudcal.defaults`).

Two words that must not be confused
-----------------------------------
calibration set
    The conformal quantiles (``q`` and its rank ``k`` per coverage level) computed from one
    window of labeled outcomes. They decide the interval ``[p - q, p + q]`` of every score,
    and so the *coverage*: how often the interval contains the label.
calibration score
    ``calibration_score = 1 - ECE``: how well the probabilities themselves are calibrated
    (whether a predicted 0.3 is fraud about 30 % of the time). It is stored with each
    calibration set and shown to operators, but it says nothing about interval coverage:
    coverage is measured by :mod:`fraudcal.coverage`.

Modules
-------
defaults
    The supported coverage levels, the method names and the defaults (narrow threshold,
    window, minimum sample, TTL, staleness, chunk size, report and reference days, drift
    alert thresholds, default method), each stated once; imports nothing.
inputs
    The input contract: finite probabilities in [0, 1], labels exactly 0 or 1, equal
    lengths; :class:`~fraudcal.inputs.InvalidOutcomesError` names the offending value.
conformal
    The residual split-conformal method of DESIGN.md section 4: scores, the exact rank k,
    the quantile q, the interval formula (:func:`~fraudcal.conformal.interval_bounds`) and
    the narrow flag.
metrics
    Probability-calibration metrics (ECE on equal-mass bins, Brier) and the summary
    statistics the operators read.
calibration_set
    One calibration set: computed from a window of labeled outcomes, serialised as the
    columns of ``fraudcal.calibration_sets`` and turned into the Redis payload of
    DESIGN.md section 3.3.
mondrian
    Label-conditional (Mondrian) split conformal: one quantile per class, label sets with a
    coverage guarantee per class, and the fewest frauds a level needs.
venn_abers
    Inductive Venn-Abers predictors: the exact step functions ``p0(s)``, ``p1(s)`` of a
    window, fitted in O(n log n), their compact JSON form and vectorised lookups.
methods
    The ``methods`` / ``default_method`` selection and its named errors; imports only defaults.
payload
    The Redis payload, schema version 2: the version-1 fields plus every method, with the
    Venn-Abers companion document and its digest.
online
    What the online service does with a payload and a new score; standard library only, so
    that a service can vendor the file (``load`` reads both keys through any ``get``).
measurements
    The bench's figures for the methods: Venn-Abers fit against ``np.sort``, payload bytes,
    online lookup p99 (``python -m fraudcal.measurements``).
names
    The one rule for model types and versions that reach Redis keys, file names and mail headers.
coverage
    What the intervals really did: coverage per class with Wilson intervals, widths,
    automation and threshold replay, and the status of a coverage report.
comparison
    The methods side by side on the same labeled outcomes, each with its own set in force:
    per-class coverage, label sets, auto-tickets, Venn-Abers reliability, the status that
    follows the default method, and which method to trust.
drift
    Model health over time: PR-AUC, ROC-AUC, PSI, KS, daily figures and the alert rules.
triage
    Certified triage: the loosest auto-ticket and auto-clear thresholds whose precision (resp.
    share of legitimate cases) meets its target with a stated confidence (Learn-Then-Test).
maturity
    Label maturity: the label-arrival curve from daily snapshots, the maturity ``auto``
    chooses, and the end of the matured prediction days.
aci
    Per-class adaptive conformal inference: the miscoverage level of each class follows the
    matured days' errors, bounded so that a set never saturates by drift alone.
replay
    What each method would have done, day by day, on a history: as of each day, matured
    labels only, each method's set in force; per-class coverage, tickets, clears, review.
scenarios
    A fast seeded synthetic history (scores and labels drawn directly) with concept drift,
    prior shift and class-dependent label delay, for the drift simulations.
synthetic
    A seeded, XGBoost-scored synthetic prediction log for demos, tests and benchmarks.
"""

__version__ = "0.1.0"
