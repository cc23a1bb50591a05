"""The trigger forms: every Param of every fraudcal DAG, defined in one place.

The Airflow trigger form is a user interface, so each Param is typed, ranged or enumerated,
titled and described. Shared Params are small functions (a Param object must not be shared
between DAGs: each call returns a fresh one); each DAG's whole form is one function here,
which its DAG file passes to ``@dag(params=...)``. Defaults and supported values come from
:mod:`fraudcal.defaults`, their one home (imported without numpy: DAG files parse fast).
"""

from __future__ import annotations

from airflow.sdk import Param

from fraudcal.defaults import (
    DEFAULT_ACI_GAMMA,
    DEFAULT_BAND_SIGMAS,
    DEFAULT_CHUNK_SIZE,
    DEFAULT_CLEAR_NPV,
    DEFAULT_LABEL_MATURITY_DAYS,
    DEFAULT_LEVEL,
    DEFAULT_METHOD,
    DEFAULT_METHODS,
    DEFAULT_MIN_SAMPLES,
    DEFAULT_NARROW_THRESHOLD,
    DEFAULT_PR_AUC_DROP,
    DEFAULT_PSI_ALERT,
    DEFAULT_PSI_WARN,
    DEFAULT_REFERENCE_DAYS,
    DEFAULT_REPORT_DAYS,
    DEFAULT_TICKET_PRECISION,
    DEFAULT_TRIAGE_CONFIDENCE,
    DEFAULT_TRIAGE_JUMP_FACTOR,
    DEFAULT_TTL_HOURS,
    DEFAULT_WINDOW_DAYS,
    METHODS,
    REPORTED_METHODS,
    RESIDUAL_METHOD,
    STALE_AFTER_HOURS,
    SUPPORTED_LEVELS,
    VENN_ABERS_METHOD,
)
from fraudcal.names import MAIL_ADDRESS_PATTERN, MAX_MAIL_ADDRESS_LENGTH, MAX_NAME_LENGTH, SAFE_NAME_PATTERN
from fraudcal_airflow.db.sources import DB_SOURCES, PREDICTION_LOGS, SOURCES

DEFAULT_MODEL_TYPE = "fraud_detector"
_SOURCE_NAMES = ", ".join(f"{name} = {log.table}" for name, log in PREDICTION_LOGS.items())


def model_type_param() -> Param:
    """The model_type of the prediction log (a safe name: it reaches Redis keys and file names)."""
    return Param(
        DEFAULT_MODEL_TYPE,
        type="string",
        minLength=1,
        maxLength=MAX_NAME_LENGTH,
        pattern=SAFE_NAME_PATTERN,
        title="Model type",
        description="model_type in the prediction log: letters, digits, '.', '_', '-'.",
    )


def model_versions_param(description: str) -> Param:
    """A list of model versions; what an empty list means is the DAG's to say.

    ``null`` is allowed so that the trigger form does not mark the field required: empty (or
    null) is a valid choice, and the steps read both as "none requested".
    """
    return Param(
        [],
        type=["null", "array"],
        items={"type": "string", "minLength": 1, "maxLength": MAX_NAME_LENGTH, "pattern": SAFE_NAME_PATTERN},
        uniqueItems=True,
        title="Model versions",
        description=f"{description} Each: letters, digits, '.', '_', '-'.",
    )


def source_param(*, with_csv: bool) -> Param:
    """The prediction log to read (and, for calibration, a CSV file in the import folder)."""
    names = list(SOURCES if with_csv else DB_SOURCES)
    csv = ", csv = a file in the import folder" if with_csv else ""
    return Param(
        names[0], type="string", enum=names, title="Source", description=f"{_SOURCE_NAMES}{csv}."
    )


def coverage_level_param(title: str, description: str) -> Param:
    """One of the supported coverage levels (percent)."""
    return Param(DEFAULT_LEVEL, type="integer", enum=list(SUPPORTED_LEVELS), title=title, description=description)


def narrow_threshold_param() -> Param:
    """Width below which an interval counts as narrow (an auto-ticket on HIGH/CRITICAL)."""
    return Param(
        DEFAULT_NARROW_THRESHOLD,
        type="number",
        exclusiveMinimum=0,
        maximum=1,
        title="Narrow threshold",
        description="An interval narrower than this is narrow (auto-ticket on HIGH/CRITICAL).",
    )


def recipients_param() -> Param:
    """E-mail recipients of a report."""
    return Param(
        ["fraud-ops@example.com"],
        type="array",
        minItems=1,
        items={
            "type": "string",
            "format": "email",
            "maxLength": MAX_MAIL_ADDRESS_LENGTH,
            "pattern": MAIL_ADDRESS_PATTERN,
        },
        title="Recipients",
        description="Plain e-mail addresses (name@domain), one per line.",
    )


def default_method_param(description: str) -> Param:
    """The calibration method a report judges: the one the online service acts on (a report's own Param).

    The reports cannot read it from the stored sets (``fraudcal.calibration_sets`` does not record
    the calibration run's ``default_method``), and the live Redis payload says only what is live now,
    not what was in force over a report's period; so it is asked, defaulting to the calibration
    Param's default.
    """
    return Param(
        DEFAULT_METHOD, type="string", enum=list(REPORTED_METHODS), title="Default method", description=description
    )


def optional_period_params(from_description: str, to_description: str) -> dict[str, Param]:
    """``date_from`` / ``date_to``: inclusive UTC days, both empty for the DAG's default period."""
    return {
        "date_from": Param(
            None, type=["null", "string"], format="date", title="From (inclusive)", description=from_description
        ),
        "date_to": Param(None, type=["null", "string"], format="date", title="To (inclusive)", description=to_description),
    }


def hours_param(default: int, title: str, description: str) -> Param:
    """A duration in whole hours, 1 h to 30 days."""
    return Param(default, type="integer", minimum=1, maximum=720, title=title, description=description)


#: The text form of ``label_maturity_days``: "auto" or up to three digits (the step checks 0..365).
LABEL_MATURITY_PATTERN = "^(auto|[0-9]{1,3})$"


def label_maturity_param(description: str | None = None) -> Param:
    """``label_maturity_days``: ``"auto"`` or whole days 0..365 (text from the form, a number from REST).

    The form refuses anything but ``auto`` and up to three digits, and a number outside
    0..365; the step reads the value with :func:`fraudcal.maturity.resolve_label_maturity`,
    which refuses the rest (``"400"``) naming the value.
    """
    return Param(
        DEFAULT_LABEL_MATURITY_DAYS,
        type=["string", "integer"],
        pattern=LABEL_MATURITY_PATTERN,
        minimum=0,
        maximum=365,
        title="Label maturity (days)",
        description=description
        or "A prediction day counts once it is this many days old (its labels are in): 0 = every labeled day; "
        "auto = read from the label snapshots (the age by which 95 % of a day's labels arrive).",
    )


def calibrate_fraud_model() -> dict[str, Param]:
    """The form of ``calibrate_fraud_model``."""
    return {
        "model_type": model_type_param(),
        "model_versions": model_versions_param(
            "Versions to calibrate, one per line. Empty: every version with labeled outcomes in the window."
        ),
        "source": source_param(with_csv=True),
        "csv_path": Param(
            None,
            type=["null", "string"],
            maxLength=500,
            title="CSV path",
            description="Only with source=csv: a file inside the import folder (FRAUDCAL_IMPORT_DIR).",
        ),
        "window_days": Param(
            DEFAULT_WINDOW_DAYS,
            type="integer",
            minimum=1,
            maximum=365,
            title="Window (days)",
            description="Labeled outcomes predicted in [as_of - window_days, as_of); with a label maturity of m "
            "days the window keeps its length and ends m days before as_of's date.",
        ),
        "label_maturity_days": label_maturity_param(
            "0: the window ends at as_of (every labeled day counts). m: it ends m days before as_of's date, so "
            "that only days whose labels are in count (young days hold mostly the fast labels, often the frauds). "
            "auto: m read from the label snapshots (the age by which 95 % of a day's labels arrive; 0 while "
            "they do not tell). The set is in force from as_of either way."
        ),
        "min_samples": Param(
            DEFAULT_MIN_SAMPLES,
            type="integer",
            minimum=2,
            maximum=10_000_000,
            title="Minimum labeled outcomes",
            description="Fewer labeled outcomes than this: no set is made for the version.",
        ),
        "coverage_levels": Param(
            [str(level) for level in SUPPORTED_LEVELS],
            type="array",
            # strings, so that the form shows a multi-select of the examples; numbers are accepted too
            items={"type": ["string", "integer"], "enum": [*map(str, SUPPORTED_LEVELS), *SUPPORTED_LEVELS]},
            examples=[str(level) for level in SUPPORTED_LEVELS],
            minItems=1,
            uniqueItems=True,
            title="Coverage levels (%)",
            description="The levels each set holds a quantile for (pick one or more).",
        ),
        "narrow_threshold": narrow_threshold_param(),
        "ttl_hours": hours_param(DEFAULT_TTL_HOURS, "Redis TTL (hours)", "The live and previous keys expire after this."),
        "publish": Param(
            True, type="boolean", title="Publish to Redis", description="Off: record the sets in PostgreSQL only."
        ),
        "repair": Param(
            True,
            type="boolean",
            title="Repair the day's NULL intervals",
            description="Skipped in Airflow backfill runs: historical intervals are the backfill DAG's job.",
        ),
        "repair_coverage_level": coverage_level_param(
            "Repair: coverage level (%)",
            "Level whose interval fills the data interval's predictions left NULL by the online service.",
        ),
        "methods": Param(
            list(DEFAULT_METHODS),
            type="array",
            items={"type": "string", "enum": list(METHODS)},
            examples=list(METHODS),
            minItems=1,
            uniqueItems=True,
            title="Methods",
            description="residual: one interval width for every score (kept for compatibility; always computed). "
            "mondrian: per-class label sets, coverage guaranteed for the fraud class. venn_abers: a calibrated "
            "probability with an interval [p0, p1] (its width is data density, not error: no auto-tickets). "
            "mondrian_aci: Mondrian whose per-class level adapts to the misses of matured days (ACI, step aci_gamma); "
            "it learns only from labels that have arrived, so it needs a label maturity to adapt to the right errors "
            "and lags a shift by the label delay; not selected by default.",
        ),
        "default_method": Param(
            DEFAULT_METHOD,
            type="string",
            enum=list(METHODS),
            title="Default method",
            description="The method the online service should act on (payload field default_method); one of Methods.",
        ),
        "aci_gamma": Param(
            DEFAULT_ACI_GAMMA,
            type="number",
            minimum=0.001,
            maximum=0.5,
            title="ACI step size (gamma)",
            description="mondrian_aci only: how far one matured day's miss rate moves a class's level, alpha += "
            "gamma x (target - miss rate). Larger follows a drift sooner but jitters with each day's noise.",
        ),
        **triage_params(),
        "replace_other_source": Param(
            False,
            type="boolean",
            title="Replace a set from another source",
            description="Off: a set from this source never replaces a stored or live set computed from another "
            "source (e.g. a CSV over the fraud log's set); such a run fails and nothing live changes.",
        ),
    }


def triage_params() -> dict[str, Param]:
    """The certified triage of ``calibrate_fraud_model``: targets, confidence, and the approval rule."""
    return {
        "ticket_precision": Param(
            DEFAULT_TICKET_PRECISION,
            type="number",
            minimum=0.1,
            maximum=0.9999,
            title="Auto-ticket: target precision",
            description="The auto-ticket threshold is certified so that at least this share of auto-tickets are "
            "frauds (with the confidence below). No such threshold in the window: every score goes to review.",
        ),
        "clear_npv": Param(
            DEFAULT_CLEAR_NPV,
            type="number",
            minimum=0.5,
            maximum=0.99999,
            title="Auto-clear: target share of legitimate cases",
            description="The auto-clear threshold is certified so that at least this share of auto-cleared cases "
            "are legitimate (negative predictive value).",
        ),
        "triage_confidence": Param(
            DEFAULT_TRIAGE_CONFIDENCE,
            type="number",
            minimum=0.5,
            maximum=0.999,
            title="Triage: confidence",
            description="Probability that a certified threshold really meets its target on days like the window "
            "(Learn-Then-Test, exact binomial tests).",
        ),
        "triage_jump_factor": Param(
            DEFAULT_TRIAGE_JUMP_FACTOR,
            type="number",
            minimum=1,
            maximum=100,
            title="Triage: approval above this jump",
            description="A new threshold that would automate more than this many times the share of the "
            "thresholds in force waits for an operator's approval (the sets are published; the thresholds in "
            "force stay until then).",
        ),
        "triage_approval": Param(
            True,
            type="boolean",
            title="Triage: ask before a jump",
            description="On: a jump waits in the task approve_triage (Airflow's Required Actions) for an "
            "operator. Off: it takes force at once and the run says so (for demos and tests without an operator).",
        ),
    }


def backfill_prediction_intervals() -> dict[str, Param]:
    """The form of ``backfill_prediction_intervals``."""
    return {
        "model_type": model_type_param(),
        "model_versions": model_versions_param("Versions to fill, one per line. Empty: every version of the model type."),
        "source": source_param(with_csv=False),
        "date_from": Param(
            "2025-01-01",
            type="string",
            format="date",
            title="From (inclusive)",
            description="First day (UTC) of predicted_at to fill, YYYY-MM-DD.",
        ),
        "date_to": Param(
            "2025-01-31",
            type="string",
            format="date",
            title="To (inclusive)",
            description="Last day (UTC) of predicted_at to fill, YYYY-MM-DD.",
        ),
        "coverage_level": coverage_level_param("Coverage level (%)", "Which level's quantile fills the four columns."),
        "method": Param(
            RESIDUAL_METHOD,
            type="string",
            enum=[RESIDUAL_METHOD, VENN_ABERS_METHOD],
            title="Method",
            description="residual: [p - q, p + q] at the coverage level. venn_abers: the Venn-Abers interval "
            "[p0, p1] (width p1 - p0) of the set in force; the calibration must have computed venn_abers sets.",
        ),
        "chunk_size": Param(
            DEFAULT_CHUNK_SIZE,
            type="integer",
            minimum=1_000,
            maximum=2_000_000,
            title="Chunk size (rows)",
            description="Rows per transaction; 50k-200k cost 4-7 % over one single UPDATE.",
        ),
        "overwrite": Param(
            False,
            type="boolean",
            title="Overwrite filled rows",
            description="Off: only rows whose bounds are NULL (resumable). On: recompute every row.",
        ),
        "dry_run": Param(False, type="boolean", title="Dry run", description="Plan and count only; write nothing."),
    }


def report_coverage() -> dict[str, Param]:
    """The form of ``report_coverage``."""
    return {
        "model_type": model_type_param(),
        "model_versions": model_versions_param("Empty: every version of the model type."),
        "source": source_param(with_csv=False),
        **optional_period_params(
            f"YYYY-MM-DD. Empty (with date_to): the last {DEFAULT_REPORT_DAYS} days with labels.",
            "YYYY-MM-DD. Empty (with date_from): the last labeled day.",
        ),
        "coverage_level": coverage_level_param(
            "Coverage level (%)", "The level of the per-day, width, automation and replay figures."
        ),
        "narrow_threshold": narrow_threshold_param(),
        "recipients": recipients_param(),
        "stale_after_hours": hours_param(
            STALE_AFTER_HOURS, "Stale set after (hours)", "A version whose newest set is older is reported stale."
        ),
        "default_method": default_method_param(
            "The method the online service acts on: the status, the headline and the staleness follow it; "
            "every method is shown side by side."
        ),
    }


def report_drift() -> dict[str, Param]:
    """The form of ``report_drift``."""
    return {
        "model_type": model_type_param(),
        "model_versions": model_versions_param("Empty: every version of the model type."),
        "source": source_param(with_csv=False),
        "reference_days": Param(
            DEFAULT_REFERENCE_DAYS,
            type="integer",
            minimum=7,
            maximum=365,
            title="Reference window (days)",
            description="The judged day is compared with this many days before it.",
        ),
        "label_maturity_days": label_maturity_param(
            "0: the run judges its own day (the day before as_of). m: it judges the day m days earlier, the "
            "newest whose labels have arrived, and the reference days move with it: alerts come m days later, "
            "but they are not raised by labels that have not arrived yet. auto: m read from the label snapshots "
            "(the age by which 95 % of a day's labels arrive; 0 while they do not tell, and the mail says so)."
        ),
        "pr_auc_drop": Param(
            DEFAULT_PR_AUC_DROP,
            type="number",
            exclusiveMinimum=0,
            maximum=1,
            title="PR-AUC drop (relative)",
            description="Alert when the last 7 days' PR-AUC falls below (1 - drop) x the reference days'.",
        ),
        "psi_warn": Param(
            DEFAULT_PSI_WARN,
            type="number",
            minimum=0,
            maximum=10,
            title="PSI warning",
            description="Score PSI above this is noted (not an alert); at most psi_alert.",
        ),
        "psi_alert": Param(
            DEFAULT_PSI_ALERT,
            type="number",
            minimum=0,
            maximum=10,
            title="PSI alert",
            description="Score PSI above this alerts (the scores' distribution moved).",
        ),
        "band_sigmas": Param(
            DEFAULT_BAND_SIGMAS,
            type="number",
            minimum=1,
            maximum=10,
            title="Band width (sd)",
            description="Fraud rate or mean score outside the reference mean +- this many sd alerts.",
        ),
        "coverage_level": coverage_level_param("Coverage level (%)", "The level whose coverage the coverage rule judges."),
        "default_method": default_method_param(
            "The method whose coverage of confirmed frauds and of legitimate cases the coverage rule judges "
            "(each class on its own): the one the online service acts on."
        ),
        "recipients": recipients_param(),
        "send_digest": Param(
            False,
            type="boolean",
            title="Daily digest without alerts",
            description="On: mail a short digest on days without an alert too.",
        ),
    }


def replay_methods() -> dict[str, Param]:
    """The form of ``replay_methods``: which history, which methods, and the settings production used."""
    from fraudcal.defaults import DEFAULT_REPLAY_DAYS, MONDRIAN_ACI_METHOD, MONDRIAN_METHOD

    # fraudcal.replay.REPLAY_METHODS (a test keeps them equal); the core module loads numpy.
    methods = [RESIDUAL_METHOD, MONDRIAN_METHOD, MONDRIAN_ACI_METHOD, VENN_ABERS_METHOD]
    triage = triage_params()
    return {
        "model_type": model_type_param(),
        "model_versions": model_versions_param("Empty: every version of the model type."),
        "source": source_param(with_csv=False),
        **optional_period_params(
            f"First replayed day (UTC), YYYY-MM-DD. Empty (with date_to): the last {DEFAULT_REPLAY_DAYS} "
            "days up to the last labeled day.",
            "Last replayed day (UTC), YYYY-MM-DD. Empty (with date_from): the last labeled day.",
        ),
        "methods": Param(
            methods,
            type="array",
            items={"type": "string", "enum": methods},
            examples=methods,
            minItems=1,
            uniqueItems=True,
            title="Methods",
            description="residual: one interval width for every score. mondrian: per-class label sets. "
            "mondrian_aci: Mondrian whose per-class level adapts to the matured days' misses (step aci_gamma). "
            "venn_abers: certified auto-ticket/auto-clear thresholds on Venn-Abers' calibrated scores.",
        ),
        "aci_gamma": Param(
            DEFAULT_ACI_GAMMA,
            type="number",
            minimum=0.001,
            maximum=0.5,
            title="ACI step size (gamma)",
            description="mondrian_aci only: how far one matured day's miss rate moves a class's level, alpha += "
            "gamma x (target - miss rate), as in the calibration.",
        ),
        "window_days": Param(
            DEFAULT_WINDOW_DAYS,
            type="integer",
            minimum=1,
            maximum=365,
            title="Window (days)",
            description="As the calibration's: the window of day D is [E - window_days, E), E = D minus the label "
            "maturity.",
        ),
        "label_maturity_days": label_maturity_param(
            "As the calibration's: a prediction day joins the windows once it is this many days old (0: as soon as "
            "labeled); auto = read from the label snapshots (the age by which 95 % of a day's labels arrive; 0 "
            "while they do not tell, and the report says so). The replay's labels are those known now."
        ),
        "coverage_level": coverage_level_param(
            "Coverage level (%)", "The level of every label-set method; a day meets it within the Wilson interval."
        ),
        "narrow_threshold": narrow_threshold_param(),
        **{name: triage[name] for name in ("ticket_precision", "clear_npv", "triage_confidence")},
        "recipients": recipients_param(),
    }
