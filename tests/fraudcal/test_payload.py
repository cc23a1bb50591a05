"""The schema-2 payload, its Venn-Abers companion, the method Params, and what ``load`` makes of them."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from fraudcal import online
from fraudcal.calibration_set import calibration_payload, compute_calibration_set
from fraudcal.defaults import METHODS, MONDRIAN_METHOD, RESIDUAL_METHOD, SUPPORTED_LEVELS, VENN_ABERS_METHOD
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
    assert list(main["methods"]) == list(METHODS)
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
    assert calibration.methods == METHODS and calibration.default_method == MONDRIAN_METHOD
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
    assert checked_methods(["venn_abers", "residual", "mondrian"], "venn_abers") == METHODS
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
