"""What the online service does with a calibration payload and a new score.

This is the reference implementation of the service's side of the Redis contract (DESIGN.md
section 3.3), kept here so that the batch side and its tests use the same rule. It imports
the Python standard library only (no numpy, no other fraudcal module), so that an online
service can vendor this one file; the few shared facts it needs (the default level, the
method names, the key layout) are copies, which ``tests/fraudcal/test_online_standalone.py``
pins to :mod:`fraudcal.defaults` and DESIGN.md 3.3, and its plain-float interval formula to
:func:`fraudcal.conformal.interval_bounds`.

Two ways in
-----------
:func:`interval_for_score`
    The version-1 reader: a decoded payload and a score give the residual interval dict. It
    reads a version-2 payload the same way (its version-1 fields are kept as they were).
:func:`load`
    Reads a model version's payload (and, for Venn-Abers, its companion key) through any
    ``get(key) -> bytes | str | None`` (e.g. a redis-py client's ``get``) and returns an
    :class:`OnlineCalibration` whose ``interval``, ``label_set`` and ``venn_abers`` answer
    each score in O(log n) (:mod:`bisect`), or ``None`` without a set. ``label_set(score,
    level, method="mondrian")`` answers the Mondrian set, and with ``method="mondrian_aci"``
    the Mondrian set at the per-class levels ACI adapted (same layout, same rule).

What to do with a score
-----------------------
:func:`decide` (and :meth:`OnlineCalibration.decide`) turns a score into one of
:data:`TRIAGE_ACTIONS` with a plain-sentence reason, from the payload's ``triage`` object
(:mod:`fraudcal.payload`): ``"ticket"`` iff the ticket side in force is certified and ``score
>= threshold``, ``"clear"`` iff the clear side in force is certified and ``score <=
threshold``, ``"review"`` otherwise: between the thresholds, on both sides at once, with a
side not certified or not in force, without a ``triage`` object (a payload written before
triage existed) and without a calibration set. The certificates come from
:func:`fraudcal.triage.certify_triage`, whose ``TriageCertificate.actions`` gives the same
action for every score; ``pending`` certificates (awaiting an operator's approval) are never
acted on.

Consistency of the two keys
---------------------------
A large Venn-Abers representation lives in the companion key ``<main key>:venn_abers``; the
main payload names it by the SHA-256 of its exact stored text. The publisher writes both in
one atomic step, but a reader does two ``GET``\\ s, and a publish may fall between them. So
:func:`load` accepts a companion only if its digest is the one the main payload names; on a
mismatch it reads both again, at most :data:`MAX_READS` times, and otherwise returns the set
with Venn-Abers unavailable (``venn_abers(score)`` is ``None``): a new main payload is never
combined with an old companion, nor the reverse.

Examples
--------
>>> store = {"fraudcal:calibration:fd:v1": json.dumps({
...     "levels": {"90": {"quantile": 0.125, "k": 90}}, "narrow_threshold": 0.2, "calibration_score": 0.97})}
>>> calibration = load(store.get, "fd", "v1")
>>> calibration.interval(0.9375)["upper_bound"], calibration.methods
(1.0, ('residual',))
>>> load(store.get, "fd", "v2") is None
True
>>> decide(calibration, 0.9375)
{'action': 'review', 'reason': 'no triage thresholds in the calibration set (published before triage existed)'}
>>> decide(None, 0.9375)
{'action': 'review', 'reason': 'no calibration set in force'}
"""

from __future__ import annotations

import hashlib
import json
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Mapping
from fractions import Fraction
from typing import Any

# Copies of shared facts, so that this file stands alone; tests pin them to their homes.
#: The level used when none is asked for (copy of ``fraudcal.defaults.DEFAULT_LEVEL``).
DEFAULT_COVERAGE_LEVEL = 90
#: Method names (copies of ``fraudcal.defaults.RESIDUAL_METHOD``, ``MONDRIAN_METHOD``, ``VENN_ABERS_METHOD``,
#: ``MONDRIAN_ACI_METHOD``).
METHOD_RESIDUAL, METHOD_MONDRIAN, METHOD_VENN_ABERS = "residual", "mondrian", "venn_abers"
METHOD_MONDRIAN_ACI = "mondrian_aci"
#: The methods whose payload entry holds per-class quantiles, answered by ``label_set``.
LABEL_SET_METHODS = (METHOD_MONDRIAN, METHOD_MONDRIAN_ACI)
#: First part of every calibration key: ``fraudcal:calibration:{model_type}:{model_version}``.
KEY_PREFIX = "fraudcal:calibration"
#: Reads of the main payload (and its companion) before Venn-Abers is declared unavailable.
MAX_READS = 3
#: What :func:`decide` answers (copy of ``fraudcal.defaults.TRIAGE_ACTIONS``).
TRIAGE_ACTIONS = ("ticket", "review", "clear")
TICKET, REVIEW, CLEAR = TRIAGE_ACTIONS
#: The payload's object with the certified triage thresholds (``fraudcal.payload``).
TRIAGE_KEY = "triage"


def calibration_key(model_type: str, model_version: str) -> str:
    """Return the Redis key of a model version's live calibration payload.

    Raises
    ------
    ValueError
        If a name is empty or holds ``:`` (the key separator: version ``v1:previous`` would
        read version v1's rollback key).
    """
    for name, value in (("model_type", model_type), ("model_version", model_version)):
        if not value or ":" in value:
            raise ValueError(f"{name} {value!r} must be non-empty and without ':'")
    return f"{KEY_PREFIX}:{model_type}:{model_version}"


def companion_key(main_key: str) -> str:
    """Return the key of the Venn-Abers companion of the payload stored at ``main_key``."""
    return f"{main_key}:{METHOD_VENN_ABERS}"


def companion_digest(stored: bytes | str) -> str:
    """Return the SHA-256 (hex) of a companion's stored text, as the main payload names it."""
    return hashlib.sha256(stored.encode("utf-8") if isinstance(stored, str) else stored).hexdigest()


# ------------------------------------------------------------------ the version-1 reader


def _coverage_fraction(level: str) -> Fraction:
    """A level key as an exact fraction, for ordering ``"99.5"`` after ``"99"``."""
    return Fraction(level)


def _level_number(level: str) -> int | float:
    """A payload's level key as a number: ``"90"`` -> 90, ``"99.5"`` -> 99.5."""
    exact = Fraction(level)
    return int(exact) if exact.denominator == 1 else float(exact)


def _checked_score(score: float) -> float:
    """The score as a float, refusing anything outside [0, 1] (NaN included)."""
    if not 0.0 <= score <= 1.0:  # also rejects NaN
        raise ValueError(f"score {score!r} must be a probability in [0, 1]")
    return float(score)


def interval_for_score(
    payload: Mapping[str, Any] | None, score: float, coverage_level: int | float | str = DEFAULT_COVERAGE_LEVEL
) -> dict[str, Any] | None:
    """Return the residual interval of one new score, or ``None`` without a calibration set.

    The formula is :func:`fraudcal.conformal.interval_bounds`' (``[max(0, p - q), min(1, p +
    q)]``), written here in plain floats; a test checks that both agree bit for bit.

    Parameters
    ----------
    payload : mapping or None
        The decoded Redis payload of the model version (schema version 1 or 2), or ``None``
        when Redis had none (expired, never published, or Redis unreachable).
    score : float
        The model's fraud probability, in [0, 1].
    coverage_level : int, float or str, default=DEFAULT_COVERAGE_LEVEL
        Which level of the payload to use (its key, e.g. ``90`` or ``"99.5"``).

    Returns
    -------
    dict or None
        ``{lower_bound, upper_bound, width, calibration_score, coverage_level,
        quantile_value, is_narrow}``; ``None`` tells the service to fall back to the point
        prediction.

    Raises
    ------
    ValueError
        If the score is outside [0, 1] or the payload lacks the level.

    Examples
    --------
    >>> payload = {"levels": {"90": {"quantile": 0.125, "k": 90}}, "narrow_threshold": 0.2, "calibration_score": 0.97}
    >>> interval_for_score(payload, 0.9375)
    {'lower_bound': 0.8125, 'upper_bound': 1.0, 'width': 0.1875, 'calibration_score': 0.97, 'coverage_level': 90, 'quantile_value': 0.125, 'is_narrow': True}
    """
    if payload is None:
        return None
    value = _checked_score(score)
    level = str(coverage_level)
    if level not in payload["levels"]:
        raise ValueError(
            f"coverage_level {level} is not in the calibration set "
            f"(it has {sorted(payload['levels'], key=_coverage_fraction)})"
        )
    quantile = float(payload["levels"][level]["quantile"])
    lower = max(0.0, value - quantile)
    upper = min(1.0, value + quantile)
    width = upper - lower
    return {
        "lower_bound": lower,
        "upper_bound": upper,
        "width": width,
        "calibration_score": payload.get("calibration_score"),
        "coverage_level": _level_number(level),
        "quantile_value": quantile,
        "is_narrow": width < float(payload["narrow_threshold"]),
    }


# ------------------------------------------------------------------ the loaded set


class _VennAbersSteps:
    """The two step functions of a Venn-Abers representation (``fraudcal.venn_abers``' JSON form)."""

    __slots__ = ("p0_lower", "p0_value", "p1_upper", "p1_value")

    def __init__(self, representation: Mapping[str, Any]) -> None:
        self.p0_lower = [float(x) for x in representation["p0"]["lower"]]
        self.p0_value = [float(x) for x in representation["p0"]["value"]]
        self.p1_upper = [float(x) for x in representation["p1"]["upper"]]
        self.p1_value = [float(x) for x in representation["p1"]["value"]]
        if len(self.p0_lower) != len(self.p0_value) or len(self.p1_upper) != len(self.p1_value):
            raise ValueError("a Venn-Abers representation needs as many values as breakpoints")

    def probabilities(self, score: float) -> dict[str, float]:
        """``{"p0", "p1", "p", "width"}`` at one score: two bisections."""
        below = bisect_right(self.p0_lower, score)  # p0 takes a breakpoint's new value at the breakpoint
        p0 = self.p0_value[below - 1] if below else 0.0
        above = bisect_left(self.p1_upper, score)  # p1 keeps its old value at the breakpoint
        p1 = self.p1_value[above] if above < len(self.p1_value) else 1.0
        return {"p0": p0, "p1": p1, "p": p1 / ((1.0 - p0) + p1), "width": p1 - p0}


class OnlineCalibration:
    """A model version's calibration payload, decoded once, answering each score in O(log n).

    Attributes
    ----------
    payload : dict
        The decoded main payload.
    default_method : str
        The method the Params chose for the service (``residual`` for a version-1 payload).
    methods : tuple of str
        The methods this object can answer: ``residual`` always, ``mondrian``, ``venn_abers``
        and ``mondrian_aci`` when the payload has them (and, for Venn-Abers, its companion
        matched), in that order.
    """

    def __init__(self, payload: Mapping[str, Any], venn_abers: Mapping[str, Any] | None = None) -> None:
        self.payload = dict(payload)
        self.default_method = str(payload.get("default_method", METHOD_RESIDUAL))
        methods = payload.get("methods") or {}
        # Per label-set method present, per level: (q_0, q_1).
        self._label_sets: dict[str, dict[str, tuple[float, float]]] = {
            method: {
                level: (float(entry["0"]["quantile"]), float(entry["1"]["quantile"]))
                for level, entry in methods[method]["levels"].items()
            }
            for method in LABEL_SET_METHODS
            if method in methods
        }
        self._venn_abers = None if venn_abers is None else _VennAbersSteps(venn_abers)
        triage = payload.get(TRIAGE_KEY)
        self._triage = None if triage is None else _Triage(triage)
        available = {
            METHOD_RESIDUAL: True,
            METHOD_MONDRIAN: METHOD_MONDRIAN in self._label_sets,
            METHOD_VENN_ABERS: self._venn_abers is not None,
            METHOD_MONDRIAN_ACI: METHOD_MONDRIAN_ACI in self._label_sets,
        }
        self.methods = tuple(name for name, present in available.items() if present)

    def interval(self, score: float, coverage_level: int | float | str = DEFAULT_COVERAGE_LEVEL) -> dict[str, Any]:
        """The residual interval dict of :func:`interval_for_score`."""
        return interval_for_score(self.payload, score, coverage_level)

    def label_set(
        self,
        score: float,
        coverage_level: int | float | str = DEFAULT_COVERAGE_LEVEL,
        method: str = METHOD_MONDRIAN,
    ) -> list[int] | None:
        """The label set of a score, as a sorted list of labels (``[]``, ``[0]``, ``[1]`` or ``[0, 1]``).

        ``method`` is ``"mondrian"`` (the default: the fixed-level Mondrian set) or
        ``"mondrian_aci"`` (the Mondrian set at the per-class levels ACI adapted); both hold 0
        when ``p <= q_0`` and 1 when ``1 - p <= q_1``. Returns ``None`` when the payload has no
        set of that method (the service falls back).

        Raises
        ------
        ValueError
            If the score is outside [0, 1], ``method`` is not a label-set method, or the set
            lacks the level.
        """
        if method not in LABEL_SET_METHODS:
            raise ValueError(f"method {method!r} has no label sets; use one of {list(LABEL_SET_METHODS)}")
        quantiles = self._label_sets.get(method)
        if quantiles is None:
            return None
        value = _checked_score(score)
        level = str(coverage_level)
        if level not in quantiles:
            raise ValueError(
                f"coverage_level {level} is not in the {method} set (it has {sorted(quantiles, key=_coverage_fraction)})"
            )
        q_zero, q_one = quantiles[level]
        # The scores |p - 0| and |p - 1| exactly as the batch side computes them.
        return [label for label, held in ((0, value <= q_zero), (1, 1.0 - value <= q_one)) if held]

    def venn_abers(self, score: float) -> dict[str, float] | None:
        """``{"p0", "p1", "p", "width"}`` of a score, or ``None`` when Venn-Abers is unavailable.

        ``width = p1 - p0`` says how much calibration data is near the score, not how likely
        the label is: it is not an auto-ticket signal (see :mod:`fraudcal.venn_abers`).

        Raises
        ------
        ValueError
            If the score is outside [0, 1].
        """
        if self._venn_abers is None:
            return None
        return self._venn_abers.probabilities(_checked_score(score))

    def decide(self, score: float) -> dict[str, str]:
        """``{"action": "ticket" | "review" | "clear", "reason": ...}`` for one score (see :func:`decide`).

        Raises
        ------
        ValueError
            If the score is outside [0, 1] (NaN included).
        """
        value = _checked_score(score)
        if self._triage is None:
            return {
                "action": REVIEW,
                "reason": "no triage thresholds in the calibration set (published before triage existed)",
            }
        return self._triage.decide(value)


def decide(calibration: OnlineCalibration | None, score: float) -> dict[str, str]:
    """Return what to do with one score: ticket it, clear it, or send it to a person.

    Parameters
    ----------
    calibration : OnlineCalibration or None
        From :func:`load`; ``None`` (no set in force) sends every score to review.
    score : float
        The model's fraud probability, in [0, 1].

    Returns
    -------
    dict
        ``{"action": "ticket" | "review" | "clear", "reason": "<plain sentence>"}``: ``"ticket"``
        iff the payload's ticket side in force is certified and ``score >= threshold``;
        ``"clear"`` iff its clear side in force is certified and ``score <= threshold``;
        ``"review"`` otherwise, the reason saying why (between the thresholds, a side not
        certified or not in force, both sides at once, no ``triage`` object, no set).
        ``triage.pending`` is never used.

    Raises
    ------
    ValueError
        If the score is outside [0, 1] (NaN included), with or without a calibration set.

    Examples
    --------
    >>> triage = {"confidence": 0.9, "as_of": "2025-03-03T00:00:00Z", "pending": None,
    ...     "ticket": {"side": "ticket", "certified": True, "threshold": 0.93, "target": 0.95, "reason": "..."},
    ...     "clear": {"side": "clear", "certified": False, "threshold": None, "target": 0.999,
    ...               "reason": "only 2,000 rows in the window"}}
    >>> calibration = OnlineCalibration({"levels": {}, "triage": triage})
    >>> decide(calibration, 0.97)
    {'action': 'ticket', 'reason': 'score 0.97 >= certified ticket threshold 0.93 (precision >= 0.95 at 90 % confidence)'}
    >>> decide(calibration, 0.0)["reason"]
    'score 0: below the certified ticket threshold 0.93; no clear threshold certified (only 2,000 rows in the window)'
    """
    if calibration is None:
        _checked_score(score)
        return {"action": REVIEW, "reason": "no calibration set in force"}
    return calibration.decide(score)


# ------------------------------------------------------------------ the triage thresholds in force


def _shown(score: float, *thresholds: float) -> list[str]:
    """A score and thresholds as short decimals, all in full if a threshold would look like the score."""
    short = [f"{value:.6g}" for value in (score, *thresholds)]
    if any(text == short[0] and value != score for text, value in zip(short[1:], thresholds, strict=True)):
        return [repr(value) for value in (score, *thresholds)]
    return short


class _TriageSide:
    """One side of the triage in force: its threshold when certified, else why there is none."""

    __slots__ = ("name", "threshold", "guarantee", "missing")

    #: What each side promises, as the reasons say it.
    RATES = {TICKET: ("precision", ">="), CLEAR: ("share of legitimate cases", "<=")}

    def __init__(self, name: str, certificate: Mapping[str, Any] | None, confidence: Any) -> None:
        self.name = name
        self.threshold: float | None = None
        self.guarantee = ""
        if certificate is None:
            self.missing = f"no {name} threshold in force"
            return
        for key in ("certified", "threshold", "target", "reason"):
            if key not in certificate:
                raise ValueError(f"triage.{name} needs {key!r}; it has {sorted(certificate)}")
        if certificate.get("side", name) != name:
            raise ValueError(f"triage.{name} holds the certificate of side {certificate['side']!r}")
        self.missing = f"no {name} threshold certified ({certificate['reason']})"
        if not certificate["certified"]:
            return
        if certificate["threshold"] is None:
            raise ValueError(f"triage.{name} is certified without a threshold")
        self.threshold = float(certificate["threshold"])
        level = certificate.get("confidence", confidence)
        at = "" if level is None else f" at {float(level) * 100:g} % confidence"
        self.guarantee = f"{self.RATES[name][0]} >= {float(certificate['target']):g}{at}"

    def automates(self, score: float) -> bool:
        """Exactly ``ThresholdCertificate.automates``: ticket ``score >= t``, clear ``score <= c``."""
        if self.threshold is None:
            return False
        return score >= self.threshold if self.name == TICKET else score <= self.threshold

    def automated(self, score: float) -> str:
        """The reason of an automated action."""
        shown, threshold = _shown(score, self.threshold)
        return (
            f"score {shown} {self.RATES[self.name][1]} certified {self.name} threshold {threshold} ({self.guarantee})"
        )

    def passed(self, score: float) -> str:
        """Why this side did not act on the score."""
        if self.threshold is None:
            return self.missing
        where = "below" if self.name == TICKET else "above"
        return f"{where} the certified {self.name} threshold {_shown(score, self.threshold)[1]}"


class _Triage:
    """The payload's ``triage`` object: the two sides in force (``pending`` is not read)."""

    __slots__ = ("ticket", "clear")

    def __init__(self, triage: Mapping[str, Any]) -> None:
        confidence = triage.get("confidence")
        self.ticket = _TriageSide(TICKET, triage.get(TICKET), confidence)
        self.clear = _TriageSide(CLEAR, triage.get(CLEAR), confidence)

    def decide(self, score: float) -> dict[str, str]:
        """The action and its reason for a checked score."""
        ticketed, cleared = self.ticket.automates(score), self.clear.automates(score)
        if ticketed and cleared:
            shown, ticket_threshold, clear_threshold = _shown(score, self.ticket.threshold, self.clear.threshold)
            return {
                "action": REVIEW,
                "reason": f"score {shown} is both >= the ticket threshold {ticket_threshold} and <= the clear "
                f"threshold {clear_threshold} (the thresholds overlap): a person decides",
            }
        if ticketed:
            return {"action": TICKET, "reason": self.ticket.automated(score)}
        if cleared:
            return {"action": CLEAR, "reason": self.clear.automated(score)}
        if self.ticket.threshold is not None and self.clear.threshold is not None:
            shown, low, high = _shown(score, self.clear.threshold, self.ticket.threshold)
            return {
                "action": REVIEW,
                "reason": f"score {shown} is between the certified clear threshold {low} and ticket threshold {high}",
            }
        return {
            "action": REVIEW,
            "reason": f"score {_shown(score)[0]}: {self.ticket.passed(score)}; {self.clear.passed(score)}",
        }


def load(get: Callable[[str], bytes | str | None], model_type: str, model_version: str) -> OnlineCalibration | None:
    """Read a model version's calibration set through ``get``; ``None`` when there is none.

    Parameters
    ----------
    get : callable
        ``get(key)`` returns the stored text (bytes or str) or ``None``: a redis-py client's
        ``get``, or a dict's ``get`` in tests. Its errors propagate (the service then falls
        back as for a missing set).
    model_type, model_version : str
        Which model (checked by :func:`calibration_key`).

    Returns
    -------
    OnlineCalibration or None
        Venn-Abers is included only when the payload has it inline, or its companion's digest
        matches within :data:`MAX_READS` reads; otherwise ``venn_abers(score)`` is ``None``.
    """
    key = calibration_key(model_type, model_version)
    payload = None
    for _ in range(MAX_READS):
        stored = get(key)
        if stored is None:
            return None
        payload = json.loads(stored)
        entry = (payload.get("methods") or {}).get(METHOD_VENN_ABERS)
        if entry is None or "companion" not in entry:
            return OnlineCalibration(payload, entry)
        companion = get(companion_key(key))
        if companion is not None and companion_digest(companion) == entry["companion"]["sha256"]:
            return OnlineCalibration(payload, json.loads(companion)[METHOD_VENN_ABERS])
        # A publish fell between the two reads (or the companion expired): read both again.
    return OnlineCalibration(payload, None)
