"""The Redis payload, schema version 2: the residual set's version-1 fields plus every method.

Layout
------
The main payload (key ``fraudcal:calibration:{model_type}:{model_version}``, see
:func:`fraudcal.online.calibration_key`) keeps every field of version 1 (DESIGN.md 3.3) as it
was, so that a version-1 reader (:func:`fraudcal.online.interval_for_score`) still reads the
residual ``levels``; only ``schema_version`` becomes 2, and two fields are added::

    {"schema_version": 2, "model_type": "fraud_detector", "model_version": "v1", "method": "residual",
     "as_of": "2025-03-03T00:00:00Z", ..., "levels": {"90": {"k": 181, "quantile": 0.125}, ...},
     "default_method": "mondrian",
     "methods": {
       "residual": {"levels": {"90": {"k": 181, "quantile": 0.125}, ...}},
       "mondrian": {"levels": {"90": {"0": {"k": 174, "n": 193, "quantile": 0.0931},
                                       "1": {"k": 7, "n": 7, "quantile": 1.0},
                                       "too_few_frauds": true}, ...}},
       "venn_abers": {"n": 200, "n_positive": 7, "p0": {...}, "p1": {...}},
       "mondrian_aci": {"levels": {"90": {"0": {"k": 176, "n": 193, "quantile": 0.0954, "alpha": 0.0912,
                                              "saturated": false}, "1": {...}, "too_few_frauds": true,
                                       "gamma": 0.05, "updated_through": "2025-03-01"}, ...}}
     },
     "label_maturity_days": 0}

and, once a window's triage thresholds are certified (:mod:`fraudcal.triage`), a third::

     "triage": {"confidence": 0.9, "as_of": "2025-03-02T00:00:00Z",
                "ticket": {"side": "ticket", "certified": true, "threshold": 0.93, "target": 0.95, ...},
                "clear": {"side": "clear", "certified": true, "threshold": 0.004, "target": 0.999, ...},
                "pending": null}

``triage`` holds the thresholds **in force** (``ticket`` / ``clear``:
:meth:`fraudcal.triage.ThresholdCertificate.to_dict`, null when none is in force yet, with the
``as_of`` of the window that certified them), which :func:`fraudcal.online.decide` acts on, and
``pending``: this window's certificates while they wait for an operator's approval (same
layout plus ``reason``), never acted on.

``methods`` holds ``residual`` always (its numbers are the version-1 fields), ``mondrian``
(:meth:`fraudcal.mondrian.MondrianSet.to_dict`), ``venn_abers``
(:meth:`fraudcal.venn_abers.VennAbersSet.to_dict`) and ``mondrian_aci`` (Mondrian's layout at
the adapted per-class levels, :func:`fraudcal.calibration_set.aci_levels`: a reader of Mondrian
quantiles reads it the same way) when computed; ``default_method`` is one of them.
``label_maturity_days`` (when the publisher gives it: the calibration run always does) is the
maturity the window was cut with: the window is ``[window_start, window_end)`` and ends
``label_maturity_days`` days before ``as_of``'s date when that is above 0. When the main payload with Venn-Abers inline would exceed :data:`MAIN_PAYLOAD_MAX_BYTES`
(a 1M-row window's representation is megabytes), Venn-Abers moves to a companion document,
stored at :func:`fraudcal.online.companion_key` of the main key::

    {"schema_version": 2, "model_type": ..., "model_version": ..., "as_of": ...,
     "calibration_set_id": ..., "venn_abers": {"n": ..., "n_positive": ..., "p0": ..., "p1": ...}}

and the main payload names it instead: ``"venn_abers": {"companion": {"sha256": "<hex>",
"bytes": <length>}}``, the SHA-256 of the companion's canonical JSON text (UTF-8), the exact
text the publisher stores. Both keys must be written by one atomic publish; a reader
(:func:`fraudcal.online.load`) uses a companion only when its digest matches.

Every document is written as canonical JSON (:func:`canonical_json`: sorted keys, no spaces,
no NaN), so that an identical set is recognised byte for byte.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any

from fraudcal.calibration_set import aci_levels
from fraudcal.defaults import MONDRIAN_ACI_METHOD, MONDRIAN_METHOD, RESIDUAL_METHOD, VENN_ABERS_METHOD
from fraudcal.methods import checked_methods
from fraudcal.mondrian import MondrianSet
from fraudcal.online import companion_digest
from fraudcal.venn_abers import VennAbersSet

#: Version of the payload layout written here.
PAYLOAD_V2_SCHEMA_VERSION = 2
#: Largest main payload (bytes of canonical JSON); a larger Venn-Abers part goes to the companion.
MAIN_PAYLOAD_MAX_BYTES = 64 * 1024
#: The version-1 fields a residual payload must have (DESIGN.md 3.3).
VERSION_1_FIELDS = (
    "schema_version",
    "model_type",
    "model_version",
    "method",
    "as_of",
    "window_start",
    "window_end",
    "n",
    "n_positive",
    "levels",
    "narrow_threshold",
    "calibration_score",
    "ece",
    "brier",
    "calibration_set_id",
    "source",
    "computed_at",
    "run_id",
)


class PayloadTooLargeError(ValueError):
    """Raised when the main payload exceeds its limit even without Venn-Abers."""


def canonical_json(document: Mapping[str, Any]) -> str:
    """Return the canonical JSON text of a document: sorted keys, no spaces, no NaN.

    Examples
    --------
    >>> canonical_json({"b": 1, "a": [0.5, None]})
    '{"a":[0.5,null],"b":1}'
    """
    return json.dumps(document, sort_keys=True, separators=(",", ":"), allow_nan=False)


def _text_bytes(document: Mapping[str, Any]) -> int:
    """Length in bytes of a document's canonical JSON (ASCII: json escapes everything else)."""
    return len(canonical_json(document))


def payload_v2(
    residual_payload: Mapping[str, Any],
    mondrian: MondrianSet | None,
    venn_abers: VennAbersSet | None,
    default_method: str,
    *,
    triage: Mapping[str, Any] | None = None,
    mondrian_aci: Mapping[str, Any] | None = None,
    label_maturity_days: int | None = None,
    max_main_bytes: int = MAIN_PAYLOAD_MAX_BYTES,
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Return the main payload (schema version 2) and, when Venn-Abers is too large, its companion.

    Parameters
    ----------
    residual_payload : mapping
        A version-1 payload from :func:`fraudcal.calibration_set.calibration_payload`; every
        field is kept as it is, except ``schema_version``.
    mondrian : MondrianSet or None
        The per-class set of the same window, or ``None`` when not selected.
    venn_abers : VennAbersSet or None
        The Venn-Abers set of the same window, or ``None`` when not selected.
    default_method : str
        The method the online service uses by default; one of the methods present.
    triage : mapping or None, default=None
        The ``triage`` object (module docstring); left out when None (no certificate recorded).
    mondrian_aci : mapping or None, default=None
        ``{"levels": ...}`` of the window's ``mondrian_aci`` set (the ``levels`` of its row),
        or ``None`` when not selected; checked by :func:`fraudcal.calibration_set.aci_levels`.
    label_maturity_days : int or None, default=None
        The maturity the window was cut with (0..365); the field is left out when None.
    max_main_bytes : int, default=MAIN_PAYLOAD_MAX_BYTES
        The main payload's limit: Venn-Abers goes to the companion if inline would exceed it.

    Returns
    -------
    main : dict
        The document for the main key (module docstring).
    companion : dict or None
        The document for the companion key, or ``None`` when Venn-Abers is inline or absent.

    Raises
    ------
    KeyError
        If ``residual_payload`` lacks a version-1 field.
    fraudcal.methods.MethodSelectionError
        If ``default_method`` is unknown or not among the methods present.
    PayloadTooLargeError
        If the main payload exceeds ``max_main_bytes`` even without Venn-Abers.

    Examples
    --------
    >>> residual = {name: None for name in VERSION_1_FIELDS} | {"levels": {"90": {"k": 9, "quantile": 0.1}}}
    >>> main, companion = payload_v2(residual, None, None, "residual")
    >>> main["schema_version"], main["default_method"], main["methods"], companion
    (2, 'residual', {'residual': {'levels': {'90': {'k': 9, 'quantile': 0.1}}}}, None)
    """
    missing = [name for name in VERSION_1_FIELDS if name not in residual_payload]
    if missing:
        raise KeyError(f"a version-1 payload needs {', '.join(missing)}; it has {sorted(residual_payload)}")
    present = (
        [RESIDUAL_METHOD]
        + [MONDRIAN_METHOD] * (mondrian is not None)
        + [VENN_ABERS_METHOD] * (venn_abers is not None)
        + [MONDRIAN_ACI_METHOD] * (mondrian_aci is not None)
    )
    checked_methods(present, default_method)
    methods: dict[str, Any] = {RESIDUAL_METHOD: {"levels": copy.deepcopy(dict(residual_payload["levels"]))}}
    if mondrian is not None:
        methods[MONDRIAN_METHOD] = mondrian.to_dict()
    if mondrian_aci is not None:
        if "levels" not in mondrian_aci:
            raise KeyError(f"a mondrian_aci set needs 'levels'; the mapping has {sorted(mondrian_aci)}")
        methods[MONDRIAN_ACI_METHOD] = {"levels": aci_levels(mondrian_aci["levels"])}
    main = {
        **copy.deepcopy(dict(residual_payload)),
        "schema_version": PAYLOAD_V2_SCHEMA_VERSION,
        "default_method": default_method,
        "methods": methods,
    }
    if label_maturity_days is not None:
        if isinstance(label_maturity_days, bool) or int(label_maturity_days) != label_maturity_days:
            raise ValueError(f"label_maturity_days={label_maturity_days!r} must be a whole number of days")
        main["label_maturity_days"] = int(label_maturity_days)
    if triage is not None:
        main["triage"] = copy.deepcopy(dict(triage))
    companion = None
    if venn_abers is not None:
        representation = venn_abers.to_dict()
        methods[VENN_ABERS_METHOD] = representation
        if _text_bytes(main) > max_main_bytes:
            companion = {
                "schema_version": PAYLOAD_V2_SCHEMA_VERSION,
                **{name: main[name] for name in ("model_type", "model_version", "as_of", "calibration_set_id")},
                VENN_ABERS_METHOD: representation,
            }
            methods[VENN_ABERS_METHOD] = {"companion": companion_reference(companion)}
    size = _text_bytes(main)
    if size > max_main_bytes:
        raise PayloadTooLargeError(f"the main payload is {size} bytes, above the limit of {max_main_bytes}")
    return main, companion


def companion_reference(companion: Mapping[str, Any]) -> dict[str, Any]:
    """Return what the main payload says of its companion: ``{"sha256": <hex>, "bytes": <length>}``.

    The digest is of the companion's canonical JSON text, which is what must be stored.
    """
    text = canonical_json(companion)
    return {"sha256": companion_digest(text), "bytes": len(text)}
