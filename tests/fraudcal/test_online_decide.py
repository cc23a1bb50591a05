"""``fraudcal.online.decide`` acts exactly as ``TriageCertificate.actions``, and says why.

The batch side certifies a window (:func:`fraudcal.triage.certify_triage`); the payload carries
the certificates in force under ``triage`` (as the calibration DAG writes them, JSON round
trip included); the online reader must give the same action for every score, bit for bit at the
thresholds themselves, and ignore ``pending``. A payload without ``triage``, a side not
certified or not in force, overlapping thresholds and no calibration set all go to review.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from fraudcal import defaults, online
from fraudcal.online import OnlineCalibration, calibration_key, decide, load
from fraudcal.triage import ThresholdCertificate, TriageCertificate, certify_ticket_threshold, certify_triage

AS_OF = "2025-03-03T00:00:00Z"


@pytest.fixture(scope="module")
def window():
    rng = np.random.default_rng(11)
    p = rng.beta(0.3, 1.5, size=30_000)
    return p, rng.random(p.size) < p


@pytest.fixture(scope="module")
def triage(window) -> TriageCertificate:
    p, y = window
    certificate = certify_triage(p, y, target_precision=0.8, target_npv=0.99, confidence=0.9)
    assert certificate.ticket.certified and certificate.clear.certified
    return certificate


def stored(triage_object: dict | None) -> OnlineCalibration:
    """The payload as the service reads it: JSON text in a store, through ``load``."""
    payload = {"levels": {"90": {"quantile": 0.125, "k": 90}}, "narrow_threshold": 0.2, "as_of": AS_OF}
    if triage_object is not None:
        payload["triage"] = triage_object
    store = {calibration_key("fd", "v1"): json.dumps(payload)}
    return load(store.get, "fd", "v1")


def in_force(certificate: TriageCertificate, pending: dict | None = None) -> dict:
    return {**certificate.to_dict(), "as_of": AS_OF, "pending": pending}


def probe_scores(window, *certificates: TriageCertificate) -> list[float]:
    """Random scores, the window's own, both ends, every threshold and its two neighbours."""
    rng = np.random.default_rng(5)
    scores = [*rng.random(500).tolist(), *rng.choice(window[0], 500).tolist(), 0.0, 1.0]
    for certificate in certificates:
        for side in (certificate.ticket, certificate.clear):
            if side.certified:
                t = side.threshold
                scores += [t, float(np.nextafter(t, 0.0)), float(np.nextafter(t, 1.0))]
    return [score for score in scores if 0.0 <= score <= 1.0]


def test_decide_equals_actions_bit_for_bit(window, triage):
    calibration = stored(in_force(triage))
    scores = probe_scores(window, triage)
    expected = triage.actions(scores).tolist()
    assert [decide(calibration, score)["action"] for score in scores] == expected
    assert [calibration.decide(score)["action"] for score in scores] == expected
    assert set(expected) == set(defaults.TRIAGE_ACTIONS)  # every action is exercised
    # At the thresholds exactly: ticket at t, clear at c, review just inside.
    t, c = triage.ticket.threshold, triage.clear.threshold
    assert decide(calibration, t)["action"] == "ticket"
    assert decide(calibration, float(np.nextafter(t, 0.0)))["action"] == "review"
    assert decide(calibration, c)["action"] == "clear"
    assert decide(calibration, float(np.nextafter(c, 1.0)))["action"] == "review"


def test_numpy_scores_decide_as_floats(triage):
    calibration = stored(in_force(triage))
    t = triage.ticket.threshold
    assert decide(calibration, np.float64(t)) == decide(calibration, t)


def test_the_reasons_say_the_threshold_and_the_guarantee(triage):
    calibration = stored(in_force(triage))
    ticket = decide(calibration, 1.0)
    assert ticket["action"] == "ticket"
    assert ticket["reason"] == (
        f"score 1 >= certified ticket threshold {triage.ticket.threshold:.6g} (precision >= 0.8 at 90 % confidence)"
    )
    clear = decide(calibration, 0.0)
    assert clear["reason"] == (
        f"score 0 <= certified clear threshold {triage.clear.threshold:.6g} "
        "(share of legitimate cases >= 0.99 at 90 % confidence)"
    )
    middle = (triage.ticket.threshold + triage.clear.threshold) / 2
    assert decide(calibration, middle)["reason"] == (
        f"score {middle:.6g} is between the certified clear threshold {triage.clear.threshold:.6g} "
        f"and ticket threshold {triage.ticket.threshold:.6g}"
    )


def test_a_score_that_looks_like_the_threshold_is_shown_in_full(triage):
    calibration = stored(in_force(triage))
    below = float(np.nextafter(triage.ticket.threshold, 0.0))
    reason = decide(calibration, below)["reason"]
    assert repr(below) in reason and repr(triage.ticket.threshold) in reason


def test_a_payload_without_triage_reviews_everything(window):
    calibration = stored(None)
    for score in (0.0, 0.5, 1.0):
        assert decide(calibration, score) == {
            "action": "review",
            "reason": "no triage thresholds in the calibration set (published before triage existed)",
        }


def test_no_calibration_set_reviews_everything():
    assert decide(None, 0.99) == {"action": "review", "reason": "no calibration set in force"}


def test_an_uncertified_side_reviews_and_says_why(window, triage):
    p, y = window
    unreachable = certify_ticket_threshold(p, y, target_precision=0.9999, confidence=0.9)
    assert not unreachable.certified
    certificate = TriageCertificate(unreachable, triage.clear)
    calibration = stored(in_force(certificate))
    scores = probe_scores(window, triage)
    assert [decide(calibration, s)["action"] for s in scores] == certificate.actions(scores).tolist()
    answer = decide(calibration, 1.0)
    assert answer["action"] == "review"
    assert answer["reason"] == (
        f"score 1: no ticket threshold certified ({unreachable.reason}); "
        f"above the certified clear threshold {triage.clear.threshold:.6g}"
    )
    assert decide(calibration, 0.0)["action"] == "clear"


def test_sides_not_in_force_review(triage):
    # The DAG writes null sides (and confidence) while no certificate is in force yet.
    calibration = stored({"confidence": None, "ticket": None, "clear": None, "as_of": None, "pending": None})
    assert decide(calibration, 1.0) == {
        "action": "review",
        "reason": "score 1: no ticket threshold in force; no clear threshold in force",
    }


def test_pending_thresholds_are_ignored(window, triage):
    p, y = window
    # Looser thresholds awaiting approval: acting on them would change many actions.
    looser = certify_triage(p, y, target_precision=0.6, target_npv=0.95, confidence=0.9)
    assert looser.ticket.threshold < triage.ticket.threshold and looser.clear.threshold > triage.clear.threshold
    pending = {**looser.to_dict(), "as_of": "2025-03-04T00:00:00Z", "reason": "waits for an operator's approval"}
    calibration = stored(in_force(triage, pending))
    scores = probe_scores(window, triage, looser)
    actions = [decide(calibration, s)["action"] for s in scores]
    assert actions == triage.actions(scores).tolist()
    assert actions != looser.actions(scores).tolist()


def test_overlapping_thresholds_review(triage):
    ticket = ThresholdCertificate(**{**triage.ticket.to_dict(), "threshold": 0.4})
    clear = ThresholdCertificate(**{**triage.clear.to_dict(), "threshold": 0.6})
    certificate = TriageCertificate(ticket, clear)
    calibration = stored(in_force(certificate))
    scores = [0.3, 0.4, 0.5, 0.6, 0.7]
    assert [decide(calibration, s)["action"] for s in scores] == certificate.actions(scores).tolist()
    assert decide(calibration, 0.5) == {
        "action": "review",
        "reason": "score 0.5 is both >= the ticket threshold 0.4 and <= the clear threshold 0.6 "
        "(the thresholds overlap): a person decides",
    }


@pytest.mark.parametrize("score", [-0.01, 1.01, float("nan"), float("inf")])
def test_a_score_outside_zero_one_is_refused(triage, score):
    calibration = stored(in_force(triage))
    with pytest.raises(ValueError, match="must be a probability in"):
        decide(calibration, score)
    with pytest.raises(ValueError, match="must be a probability in"):
        decide(None, score)


def test_a_malformed_triage_object_is_refused_when_loaded(triage):
    broken = in_force(triage)
    del broken["ticket"]["threshold"]
    with pytest.raises(ValueError, match="triage.ticket needs 'threshold'"):
        stored(broken)
    swapped = {**in_force(triage), "ticket": triage.clear.to_dict()}
    with pytest.raises(ValueError, match="triage.ticket holds the certificate of side 'clear'"):
        stored(swapped)


def test_the_copy_of_the_actions_equals_its_home():
    assert online.TRIAGE_ACTIONS == defaults.TRIAGE_ACTIONS
    assert (online.TICKET, online.REVIEW, online.CLEAR) == defaults.TRIAGE_ACTIONS


STANDALONE = textwrap.dedent(
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
    calibration = vendored.load(store.get, "fd", "v1")
    print(json.dumps({
        "numpy_refused": numpy_refused,
        "loaded": sorted(name for name in sys.modules if name.split(".")[0] in BLOCKED),
        "decisions": [vendored.decide(calibration, score) for score in scores],
    }))
    """
)


def test_decide_stands_alone_with_numpy_and_fraudcal_blocked(tmp_path, window, triage):
    payload = {"levels": {"90": {"quantile": 0.125, "k": 90}}, "narrow_threshold": 0.2, "triage": in_force(triage)}
    (tmp_path / "store.json").write_text(json.dumps({calibration_key("fd", "v1"): json.dumps(payload)}))
    scores = probe_scores(window, triage)
    (tmp_path / "scores.json").write_text(json.dumps(scores))
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            STANDALONE,
            online.__file__,
            str(tmp_path / "store.json"),
            str(tmp_path / "scores.json"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["numpy_refused"] == "blocked: numpy" and report["loaded"] == []
    assert [decision["action"] for decision in report["decisions"]] == triage.actions(scores).tolist()
    assert report["decisions"] == [decide(stored(in_force(triage)), score) for score in scores]
