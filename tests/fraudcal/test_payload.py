"""The schema-2 payload, its Venn-Abers companion, the method Params, and what ``load`` makes of them."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from fraudcal import online
from fraudcal.aci import AciState, aci_quantiles
from fraudcal.calibration_set import aci_levels, calibration_payload, compute_calibration_set
from fraudcal.defaults import (
    DEFAULT_METHODS,
    METHODS,
    MONDRIAN_ACI_METHOD,
    MONDRIAN_METHOD,
    RESIDUAL_METHOD,
    SUPPORTED_LEVELS,
    VENN_ABERS_METHOD,
)
from fraudcal.methods import (
    DefaultMethodNotSelectedError,
    DuplicateMethodError,
    EmptyMethodsError,
    MethodSelectionError,
    UnknownMethodError,
    checked_methods,
)
from fraudcal.mondrian import compute_mondrian, label_sets
from fraudcal.online import calibration_key, companion_key, interval_for_score, load
from fraudcal.payload import (
    MAIN_PAYLOAD_MAX_BYTES,
    VERSION_1_FIELDS,
    PayloadTooLargeError,
    canonical_json,
    companion_reference,
    payload_v2,
)
from fraudcal.venn_abers import fit_venn_abers, venn_abers_probabilities

END = datetime(2025, 3, 3, tzinfo=UTC)
KEY = calibration_key("fraud_detector", "v1")


def _window(n: int, seed: int, as_of: datetime = END):
    """Scores, labels, the v1 payload, and the Mondrian and Venn-Abers sets of one window."""
    rng = np.random.default_rng(seed)
    p = rng.beta(0.3, 9.7, size=n)
    y = rng.random(n) < p
    calibration_set = compute_calibration_set(
        p, y, model_type="fraud_detector", model_version="v1", window_start=as_of - timedelta(days=30), window_end=as_of
    )
    record = {**calibration_set.to_dict(), "id": seed, "computed_at": as_of, "run_id": f"run-{seed}"}
    return p, y, calibration_payload(record), compute_mondrian(p, y), fit_venn_abers(p, y)


def _store(main, companion) -> dict[str, str]:
    store = {KEY: canonical_json(main)}
    if companion is not None:
        store[companion_key(KEY)] = canonical_json(companion)
    return store


def _probe_scores(p: np.ndarray, quantiles) -> list[float]:
    """Window scores (Venn-Abers breakpoints), quantile boundaries (exact ties), both ends, random."""
    rng = np.random.default_rng(0)
    boundaries = [value for q in quantiles for value in (q, 1.0 - q, np.nextafter(q, 0.0), np.nextafter(q, 1.0))]
    values = [*rng.choice(p, 300).tolist(), *boundaries, 0.0, 1.0, *rng.random(200).tolist()]
    return [float(value) for value in values if 0.0 <= value <= 1.0]


@pytest.fixture(scope="module")
def small():
    return _window(400, 1)


@pytest.fixture(scope="module")
def large():
    """50,000 rows: Venn-Abers's representation is far above 64 KB."""
    return _window(50_000, 2)


def test_schema_2_keeps_every_version_1_field_and_adds_the_methods(small):
    _, _, v1, mondrian, venn_abers = small
    main, companion = payload_v2(v1, mondrian, venn_abers, MONDRIAN_METHOD)
    assert main["schema_version"] == 2 and v1["schema_version"] == 1
    assert {name: main[name] for name in VERSION_1_FIELDS if name != "schema_version"} == {
        name: v1[name] for name in VERSION_1_FIELDS if name != "schema_version"
    }
    assert set(main) == set(VERSION_1_FIELDS) | {"default_method", "methods"}
    assert main["default_method"] == MONDRIAN_METHOD
    assert list(main["methods"]) == list(DEFAULT_METHODS)
    assert main["methods"][RESIDUAL_METHOD] == {"levels": v1["levels"]}
    assert main["methods"][MONDRIAN_METHOD] == mondrian.to_dict()
    assert main["methods"][VENN_ABERS_METHOD] == venn_abers.to_dict()  # small enough to stay inline
    assert companion is None
    assert len(canonical_json(main)) <= MAIN_PAYLOAD_MAX_BYTES


def test_the_mondrian_entry_has_counts_rank_quantile_and_the_flag(small):
    _, y, v1, mondrian, _ = small
    main, _ = payload_v2(v1, mondrian, None, MONDRIAN_METHOD)
    entry = main["methods"][MONDRIAN_METHOD]["levels"]["90"]
    assert set(entry) == {"0", "1", "too_few_frauds"}
    assert set(entry["1"]) == {"n", "k", "quantile"} and entry["1"]["n"] == int(y.sum())
    assert list(main["methods"][MONDRIAN_METHOD]["levels"]) == [str(level) for level in SUPPORTED_LEVELS]


def test_a_version_1_reader_gets_the_version_1_answer_from_a_schema_2_payload(small):
    p, _, v1, mondrian, venn_abers = small
    main, _ = payload_v2(v1, mondrian, venn_abers, MONDRIAN_METHOD)
    decoded = json.loads(canonical_json(main))
    quantiles = [entry["quantile"] for entry in v1["levels"].values()]
    for level in v1["levels"]:
        for score in _probe_scores(p, quantiles):
            assert interval_for_score(decoded, score, level) == interval_for_score(v1, score, level)


def test_a_large_venn_abers_goes_to_a_companion_named_by_its_digest(large):
    _, _, v1, mondrian, venn_abers = large
    main, companion = payload_v2(v1, mondrian, venn_abers, VENN_ABERS_METHOD)
    text = canonical_json(companion)
    reference = main["methods"][VENN_ABERS_METHOD]
    assert reference == {"companion": {"sha256": hashlib.sha256(text.encode()).hexdigest(), "bytes": len(text)}}
    assert companion[VENN_ABERS_METHOD] == venn_abers.to_dict()
    assert {name: companion[name] for name in ("model_type", "model_version", "as_of", "calibration_set_id")} == {
        name: main[name] for name in ("model_type", "model_version", "as_of", "calibration_set_id")
    }
    assert len(canonical_json(main)) <= MAIN_PAYLOAD_MAX_BYTES < len(text)


def test_canonical_json_is_stable_through_a_round_trip(large):
    _, _, v1, mondrian, venn_abers = large
    main, companion = payload_v2(v1, mondrian, venn_abers, MONDRIAN_METHOD)
    for document in (main, companion):
        text = canonical_json(document)
        assert canonical_json(json.loads(text)) == text
    assert companion_reference(json.loads(canonical_json(companion))) == main["methods"][VENN_ABERS_METHOD]["companion"]


@pytest.mark.parametrize("window", ["small", "large"])
def test_load_answers_as_the_vectorised_core_does(window, request):
    p, _, v1, mondrian, venn_abers = request.getfixturevalue(window)
    main, companion = payload_v2(v1, mondrian, venn_abers, MONDRIAN_METHOD)
    assert (companion is None) == (window == "small")
    calibration = load(_store(main, companion).get, "fraud_detector", "v1")
    assert calibration.methods == DEFAULT_METHODS and calibration.default_method == MONDRIAN_METHOD
    scores = _probe_scores(p, [*mondrian.quantiles("90"), *mondrian.quantiles("99")])
    p0, p1, merged = venn_abers_probabilities(scores, venn_abers)
    for level in ("90", "99"):
        holds_zero, holds_one = label_sets(scores, mondrian, level)
        for index, score in enumerate(scores):
            expected = [label for label, held in ((0, holds_zero[index]), (1, holds_one[index])) if held]
            assert calibration.label_set(score, level) == expected
            assert calibration.interval(score, level) == interval_for_score(v1, score, level)
    for index, score in enumerate(scores):
        assert calibration.venn_abers(score) == {
            "p0": p0[index],
            "p1": p1[index],
            "p": merged[index],
            "width": p1[index] - p0[index],
        }


def test_load_without_a_set_returns_none():
    assert load({}.get, "fraud_detector", "v1") is None


def test_load_reads_a_version_1_payload_as_residual_only(small):
    _, _, v1, _, _ = small
    calibration = load({KEY: json.dumps(v1)}.get, "fraud_detector", "v1")
    assert calibration.methods == (RESIDUAL_METHOD,) and calibration.default_method == RESIDUAL_METHOD
    assert calibration.label_set(0.5) is None and calibration.venn_abers(0.5) is None
    assert calibration.interval(0.5) == interval_for_score(v1, 0.5)


def test_load_accepts_bytes_as_redis_returns_them(large):
    _, _, v1, mondrian, venn_abers = large
    main, companion = payload_v2(v1, mondrian, venn_abers, MONDRIAN_METHOD)
    stored = {key: text.encode() for key, text in _store(main, companion).items()}
    assert load(stored.get, "fraud_detector", "v1").venn_abers(0.5) is not None


class CountingStore:
    """A dict's ``get`` that counts reads per key, and can run a callback after a read."""

    def __init__(self, store, after_read=None):
        self.store, self.after_read, self.reads = dict(store), after_read, {}

    def get(self, key):
        self.reads[key] = self.reads.get(key, 0) + 1
        value = self.store.get(key)
        if self.after_read is not None:
            self.after_read(self, key)
        return value


def test_a_companion_of_another_set_is_detected_and_venn_abers_left_out(large, small):
    _, _, v1, mondrian, venn_abers = large
    main, _ = payload_v2(v1, mondrian, venn_abers, MONDRIAN_METHOD)
    p_other, y_other, v1_other, _, _ = _window(50_000, 3)
    _, other_companion = payload_v2(v1_other, None, fit_venn_abers(p_other, y_other), RESIDUAL_METHOD)
    store = CountingStore(_store(main, other_companion))
    calibration = load(store.get, "fraud_detector", "v1")
    assert calibration.venn_abers(0.5) is None
    assert VENN_ABERS_METHOD not in calibration.methods
    assert calibration.interval(0.5) == interval_for_score(v1, 0.5)  # the rest of the set still serves
    assert store.reads == {KEY: online.MAX_READS, companion_key(KEY): online.MAX_READS}


def test_an_expired_companion_leaves_venn_abers_out(large):
    _, _, v1, mondrian, venn_abers = large
    main, _ = payload_v2(v1, mondrian, venn_abers, MONDRIAN_METHOD)
    calibration = load({KEY: canonical_json(main)}.get, "fraud_detector", "v1")
    assert calibration.venn_abers(0.5) is None and calibration.label_set(0.5) is not None


def test_a_publish_between_the_two_reads_is_never_mixed(large):
    """Old main read, then a publish replaces both keys, then the (new) companion is read."""
    _, _, v1, mondrian, venn_abers = large
    old_main, old_companion = payload_v2(v1, mondrian, venn_abers, MONDRIAN_METHOD)
    p_new, y_new, v1_new, mondrian_new, _ = _window(50_000, 4, as_of=END + timedelta(days=1))
    venn_abers_new = fit_venn_abers(p_new, y_new)
    new_main, new_companion = payload_v2(v1_new, mondrian_new, venn_abers_new, VENN_ABERS_METHOD)

    def publish_after_first_main_read(store, key):
        if key == KEY and store.reads[KEY] == 1:
            store.store.update(_store(new_main, new_companion))

    store = CountingStore(_store(old_main, old_companion), after_read=publish_after_first_main_read)
    calibration = load(store.get, "fraud_detector", "v1")
    assert calibration.payload == json.loads(canonical_json(new_main))
    assert calibration.default_method == VENN_ABERS_METHOD
    p0, p1, _ = venn_abers_probabilities([0.01, 0.2], venn_abers_new)
    assert [calibration.venn_abers(score)["p1"] for score in (0.01, 0.2)] == p1.tolist()
    assert [calibration.venn_abers(score)["p0"] for score in (0.01, 0.2)] == p0.tolist()
    assert store.reads[KEY] == 2


@pytest.mark.parametrize(
    ("methods", "default_method", "error"),
    [
        ([], MONDRIAN_METHOD, EmptyMethodsError),
        (["mondrian", "isotonic"], MONDRIAN_METHOD, UnknownMethodError),
        (["mondrian", "mondrian"], MONDRIAN_METHOD, DuplicateMethodError),
        (["residual", "venn_abers"], MONDRIAN_METHOD, DefaultMethodNotSelectedError),
        (["residual"], "isotonic", UnknownMethodError),
        ("mondrian", MONDRIAN_METHOD, UnknownMethodError),
    ],
)
def test_bad_method_params_are_refused_with_a_named_error(methods, default_method, error):
    with pytest.raises(error) as raised:
        checked_methods(methods, default_method)
    assert isinstance(raised.value, MethodSelectionError) and isinstance(raised.value, ValueError)


def test_good_method_params_come_back_in_canonical_order():
    assert checked_methods(["venn_abers", "residual", "mondrian"], "venn_abers") == DEFAULT_METHODS
    assert checked_methods(["mondrian_aci", "venn_abers", "residual", "mondrian"], "mondrian_aci") == METHODS
    assert METHODS[-1] == MONDRIAN_ACI_METHOD  # the fourth method comes last, after the three of version 2
    assert checked_methods(["mondrian"], "mondrian") == ("mondrian",)


def test_the_payload_refuses_a_default_method_it_does_not_carry(small):
    _, _, v1, mondrian, _ = small
    with pytest.raises(DefaultMethodNotSelectedError, match="venn_abers"):
        payload_v2(v1, mondrian, None, VENN_ABERS_METHOD)
    with pytest.raises(UnknownMethodError):
        payload_v2(v1, mondrian, None, "isotonic")


def test_a_version_1_payload_missing_a_field_is_refused(small):
    _, _, v1, mondrian, _ = small
    with pytest.raises(KeyError, match="calibration_set_id"):
        payload_v2({key: value for key, value in v1.items() if key != "calibration_set_id"}, mondrian, None, "mondrian")


def test_a_main_payload_too_large_even_without_venn_abers_is_refused(small):
    _, _, v1, mondrian, _ = small
    with pytest.raises(PayloadTooLargeError, match="above the limit of 100"):
        payload_v2(v1, mondrian, None, MONDRIAN_METHOD, max_main_bytes=100)


def test_keys_refuse_the_separator():
    with pytest.raises(ValueError, match="without ':'"):
        calibration_key("fraud_detector", "v1:previous")
    assert companion_key(KEY) == "fraudcal:calibration:fraud_detector:v1:venn_abers"


# ---------------------------------------------------------------- mondrian_aci and the label maturity


def _aci_entry(p, y, alphas: dict[str, float], saturated: dict[str, bool]) -> dict:
    """The levels of a mondrian_aci set at the given per-class alphas (as the calibration step builds them)."""
    levels = {}
    for level in SUPPORTED_LEVELS:
        state = AciState(level=level, gamma=0.05, alpha=alphas, updated_through="2025-03-01", saturated=saturated)
        entry = aci_quantiles(p, y, state)["levels"][str(level)]
        for label in ("0", "1"):
            entry[label]["saturated"] = saturated[label]
        levels[str(level)] = {**entry, "gamma": 0.05, "updated_through": "2025-03-01"}
    return {"levels": levels}


def test_mondrian_aci_rides_beside_the_other_methods_and_keeps_every_field(small):
    p, y, v1, mondrian, venn_abers = small
    aci = _aci_entry(p, y, {"0": 0.07, "1": 0.2}, {"0": False, "1": True})
    without, _ = payload_v2(v1, mondrian, venn_abers, MONDRIAN_METHOD)
    main, _ = payload_v2(v1, mondrian, venn_abers, MONDRIAN_METHOD, mondrian_aci=aci, label_maturity_days=7)
    # every field of the payload without ACI is there, unchanged; two are added
    assert {name: main[name] for name in without if name != "methods"} == {
        name: without[name] for name in without if name != "methods"
    }
    assert set(main) == set(without) | {"label_maturity_days"} and main["label_maturity_days"] == 7
    assert {name: main["methods"][name] for name in DEFAULT_METHODS} == without["methods"]
    assert main["methods"][MONDRIAN_ACI_METHOD] == {"levels": aci_levels(aci["levels"])}
    entry = main["methods"][MONDRIAN_ACI_METHOD]["levels"]["90"]
    assert entry["1"]["alpha"] == 0.2 and entry["1"]["saturated"] is True and entry["0"]["saturated"] is False
    # the fraud class's level moved from 0.1 to 0.2: a looser fraud quantile than Mondrian's
    assert entry["1"]["quantile"] <= mondrian.levels["90"]["1"]["quantile"]
    assert checked_methods(list(main["methods"]), MONDRIAN_ACI_METHOD) == METHODS
    payload_v2(v1, None, None, MONDRIAN_ACI_METHOD, mondrian_aci=aci)  # ACI may be the default method
    with pytest.raises(DefaultMethodNotSelectedError, match="mondrian_aci"):
        payload_v2(v1, mondrian, None, MONDRIAN_ACI_METHOD)


def test_a_mondrian_aci_entry_whose_rank_is_not_its_alpha_is_refused(small):
    p, y, v1, mondrian, _ = small
    aci = _aci_entry(p, y, {"0": 0.1, "1": 0.1}, {"0": False, "1": False})
    aci["levels"]["90"]["1"]["alpha"] = 0.3  # k no longer the rank of n at alpha
    with pytest.raises(ValueError, match="mondrian_aci level 90, class 1: k=.* is not the rank"):
        payload_v2(v1, mondrian, None, MONDRIAN_METHOD, mondrian_aci=aci)


def test_at_the_nominal_level_mondrian_aci_is_mondrian_bit_for_bit(small):
    p, y, v1, mondrian, _ = small
    aci = _aci_entry(p, y, {"0": 0.1, "1": 0.1}, {"0": False, "1": False})
    main, _ = payload_v2(v1, mondrian, None, MONDRIAN_METHOD, mondrian_aci=aci)
    entry = main["methods"][MONDRIAN_ACI_METHOD]["levels"]["90"]
    assert {label: {key: entry[label][key] for key in ("n", "k", "quantile")} for label in ("0", "1")} == {
        label: mondrian.levels["90"][label] for label in ("0", "1")
    }


def test_load_answers_mondrian_aci_label_sets_with_the_mondrian_rule(small):
    p, y, v1, mondrian, venn_abers = small
    aci = _aci_entry(p, y, {"0": 0.02, "1": 0.3}, {"0": False, "1": False})
    main, companion = payload_v2(v1, mondrian, venn_abers, MONDRIAN_ACI_METHOD, mondrian_aci=aci)
    calibration = load(_store(main, companion).get, "fraud_detector", "v1")
    assert calibration.methods == METHODS and calibration.default_method == MONDRIAN_ACI_METHOD
    entry = aci_levels(aci["levels"])["95"]
    q_zero, q_one = entry["0"]["quantile"], entry["1"]["quantile"]
    scores = _probe_scores(p, [q_zero, q_one, *mondrian.quantiles("95")])
    changed = 0
    for score in scores:
        expected = [label for label, held in ((0, score <= q_zero), (1, 1.0 - score <= q_one)) if held]
        assert calibration.label_set(score, 95, method=MONDRIAN_ACI_METHOD) == expected
        changed += calibration.label_set(score, 95) != expected
    assert changed > 0  # the adapted levels give other sets than Mondrian's on some scores
    with pytest.raises(ValueError, match="method 'venn_abers' has no label sets"):
        calibration.label_set(0.5, 90, method=VENN_ABERS_METHOD)
    without_aci = load(_store(*payload_v2(v1, mondrian, None, MONDRIAN_METHOD)).get, "fraud_detector", "v1")
    assert without_aci.label_set(0.5, 90, method=MONDRIAN_ACI_METHOD) is None


def test_a_payload_without_the_maturity_field_is_what_it_was(small):
    _, _, v1, mondrian, _ = small
    main, _ = payload_v2(v1, mondrian, None, MONDRIAN_METHOD)
    assert "label_maturity_days" not in main
    assert payload_v2(v1, mondrian, None, MONDRIAN_METHOD, label_maturity_days=0)[0]["label_maturity_days"] == 0
    with pytest.raises(ValueError, match="whole number of days"):
        payload_v2(v1, mondrian, None, MONDRIAN_METHOD, label_maturity_days=1.5)
