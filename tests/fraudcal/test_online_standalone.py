"""``fraudcal/online.py`` stands alone: standard library only, same answers as the numpy core.

A fresh interpreter loads the file by path, under another name (as a service that vendors it
would), with an import hook that refuses numpy, scipy, pandas and every other fraudcal module;
it then answers scores from a stored schema-2 payload and its companion, and the answers must
equal the vectorised core's. The hook is first shown to refuse numpy (installed here), so the
test cannot pass because the hook does nothing. The file's copies of shared facts are pinned to
their homes, and its plain-float interval formula to :func:`fraudcal.conformal.interval_bounds`.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from fraudcal import defaults, online
from fraudcal.aci import AciState, aci_quantiles
from fraudcal.calibration_set import calibration_payload, compute_calibration_set
from fraudcal.conformal import prediction_intervals
from fraudcal.mondrian import compute_mondrian, label_sets
from fraudcal.online import calibration_key, companion_key, interval_for_score
from fraudcal.payload import canonical_json, payload_v2
from fraudcal.venn_abers import fit_venn_abers, venn_abers_probabilities

SCRIPT = textwrap.dedent(
    """
    import importlib.abc
    import importlib.util
    import json
    import sys

    BLOCKED = ("numpy", "scipy", "pandas", "fraudcal")


    class Refuse(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ImportError(f"blocked: {name}")
            return None


    assert importlib.util.find_spec("numpy") is not None, "numpy is not installed: the check would prove nothing"
    sys.meta_path.insert(0, Refuse())
    try:
        import numpy  # noqa: F401
    except ImportError as error:
        numpy_refused = str(error)
    else:
        numpy_refused = None

    path, store_path, scores_path = sys.argv[1:4]
    spec = importlib.util.spec_from_file_location("vendored_online", path)
    vendored = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(vendored)
    with open(store_path) as handle:
        store = json.load(handle)
    with open(scores_path) as handle:
        scores = json.load(handle)
    calibration = vendored.load(store.get, "fraud_detector", "v1")
    print(json.dumps({
        "numpy_refused": numpy_refused,
        "loaded": sorted(name for name in sys.modules if name.split(".")[0] in BLOCKED),
        "methods": calibration.methods,
        "interval": [calibration.interval(score, "95") for score in scores],
        "label_set": [calibration.label_set(score, "90") for score in scores],
        "label_set_aci": [calibration.label_set(score, "90", method="mondrian_aci") for score in scores],
        "venn_abers": [calibration.venn_abers(score) for score in scores],
    }))
    """
)


def _window():
    rng = np.random.default_rng(17)
    p = rng.beta(0.3, 9.7, size=30_000)
    y = rng.random(p.size) < p
    end = datetime(2025, 3, 3, tzinfo=UTC)
    calibration_set = compute_calibration_set(
        p, y, model_type="fraud_detector", model_version="v1", window_start=end - timedelta(days=30), window_end=end
    )
    v1 = calibration_payload({**calibration_set.to_dict(), "id": 1, "computed_at": end, "run_id": "r"})
    return p, v1, compute_mondrian(p, y), fit_venn_abers(p, y), _mondrian_aci(p, y)


def _mondrian_aci(p, y) -> dict:
    """A mondrian_aci entry at levels moved off the nominal ones (fraud class looser, legitimate tighter)."""
    levels = {}
    for level in defaults.SUPPORTED_LEVELS:
        state = AciState(level=level, gamma=0.05, alpha={"0": 0.004, "1": 0.25})
        entry = aci_quantiles(p, y, state)["levels"][str(level)]
        for label in ("0", "1"):
            entry[label]["saturated"] = False
        levels[str(level)] = {**entry, "gamma": 0.05, "updated_through": None}
    return {"levels": levels}


def test_online_loads_and_answers_with_numpy_and_fraudcal_blocked(tmp_path):
    p, v1, mondrian, venn_abers, mondrian_aci = _window()
    main, companion = payload_v2(v1, mondrian, venn_abers, defaults.DEFAULT_METHOD, mondrian_aci=mondrian_aci)
    assert companion is not None  # the companion path is the one worth checking here
    key = calibration_key("fraud_detector", "v1")
    (tmp_path / "store.json").write_text(
        json.dumps({key: canonical_json(main), companion_key(key): canonical_json(companion)})
    )
    scores = [*np.random.default_rng(1).choice(p, 200).tolist(), 0.0, 1.0, *mondrian.quantiles("90")]
    (tmp_path / "scores.json").write_text(json.dumps(scores))
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, online.__file__, str(tmp_path / "store.json"), str(tmp_path / "scores.json")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["numpy_refused"] == "blocked: numpy"
    assert report["loaded"] == []
    assert report["methods"] == list(defaults.METHODS)
    assert report["interval"] == [interval_for_score(v1, score, "95") for score in scores]
    holds_zero, holds_one = label_sets(scores, mondrian, "90")
    assert report["label_set"] == [
        [label for label, held in ((0, zero), (1, one)) if held]
        for zero, one in zip(holds_zero, holds_one, strict=True)
    ]
    # the adapted sets, by the vectorised label-set rule on the ACI quantiles (Mondrian's layout)
    entry = main["methods"]["mondrian_aci"]["levels"]["90"]
    array = np.asarray(scores)
    aci_zero, aci_one = array <= entry["0"]["quantile"], (1.0 - array) <= entry["1"]["quantile"]
    assert report["label_set_aci"] == [
        [label for label, held in ((0, zero), (1, one)) if held] for zero, one in zip(aci_zero, aci_one, strict=True)
    ]
    assert report["label_set_aci"] != report["label_set"]
    p0, p1, merged = venn_abers_probabilities(scores, venn_abers)
    assert report["venn_abers"] == [
        {"p0": a, "p1": b, "p": c, "width": b - a}
        for a, b, c in zip(p0.tolist(), p1.tolist(), merged.tolist(), strict=True)
    ]


def test_the_copies_of_shared_facts_equal_their_homes():
    assert online.DEFAULT_COVERAGE_LEVEL == defaults.DEFAULT_LEVEL
    copies = (online.METHOD_RESIDUAL, online.METHOD_MONDRIAN, online.METHOD_VENN_ABERS, online.METHOD_MONDRIAN_ACI)
    assert copies == defaults.METHODS
    assert online.LABEL_SET_METHODS == (defaults.MONDRIAN_METHOD, defaults.MONDRIAN_ACI_METHOD)
    assert online.KEY_PREFIX == "fraudcal:calibration"  # DESIGN.md 3.3


@pytest.mark.parametrize("seed", range(5))
def test_the_plain_float_interval_equals_interval_bounds_bit_for_bit(seed):
    rng = np.random.default_rng(seed)
    quantiles = [0.0, 1.0, 0.125, 0.5, float(rng.random()), float(rng.random() * 0.01)]
    narrow_threshold = float(rng.choice([0.2, 0.125, 0.25]))
    for quantile in quantiles:
        payload = {"levels": {"90": {"quantile": quantile, "k": 1}}, "narrow_threshold": narrow_threshold}
        # Random scores, both ends, and the boundaries where p - q or p + q lands on 0 or 1.
        scores = np.concatenate(
            [
                rng.random(300),
                [0.0, 1.0, quantile, 1.0 - quantile, np.nextafter(quantile, 0.0), np.nextafter(quantile, 1.0)],
                [np.nextafter(1.0 - quantile, 0.0), np.nextafter(1.0 - quantile, 1.0)],
                [narrow_threshold - quantile, 1.0 - narrow_threshold + quantile],
            ]
        )
        scores = scores[(scores >= 0.0) & (scores <= 1.0)]
        expected = prediction_intervals(scores, quantile, narrow_threshold)
        for index, score in enumerate(scores.tolist()):
            got = interval_for_score(payload, score)
            assert (got["lower_bound"], got["upper_bound"], got["width"], got["is_narrow"]) == (
                expected.lower[index],
                expected.upper[index],
                expected.width[index],
                expected.is_narrow[index],
            )
            assert type(got["lower_bound"]) is float and type(got["is_narrow"]) is bool


def test_numpy_scalars_give_the_same_interval_as_floats():
    payload = {"levels": {"90": {"quantile": 0.125, "k": 90}}, "narrow_threshold": 0.2, "calibration_score": 0.9}
    assert interval_for_score(payload, np.float32(0.3)) == interval_for_score(payload, float(np.float32(0.3)))
    assert interval_for_score(payload, np.float64(0.3)) == interval_for_score(payload, 0.3)
