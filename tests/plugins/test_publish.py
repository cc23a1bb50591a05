"""Publishing to a real Redis: atomic, monotone in as_of, :previous kept, TTL, announced."""

from __future__ import annotations

import json
import os
import re
import threading
import time

import pytest

from fraudcal_airflow.errors import InputError, UnsafeNameError
from fraudcal_airflow.publish import (
    UPDATES_CHANNEL,
    PublishOutcome,
    live_key,
    previous_key,
    publish_calibration_set,
    read_live_payload,
)


def payload(as_of: str, q: float = 0.05, set_id: int = 1, version: str = "v1") -> dict:
    return {
        "schema_version": 1,
        "model_type": "fraud_detector",
        "model_version": version,
        "method": "residual",
        "as_of": as_of,
        "levels": {"90": {"quantile": q, "k": 10}},
        "calibration_set_id": set_id,
        "narrow_threshold": 0.2,
    }


LIVE, PREVIOUS = live_key("fraud_detector", "v1"), previous_key("fraud_detector", "v1")


def test_first_publish_creates_the_live_key_with_ttl(redis_client):
    outcome = publish_calibration_set(redis_client, payload("2025-03-02T00:00:00Z"), ttl_hours=36)
    assert outcome is PublishOutcome.CREATED
    assert read_live_payload(redis_client, "fraud_detector", "v1")["as_of"] == "2025-03-02T00:00:00Z"
    assert 36 * 3600 - 5 <= redis_client.ttl(LIVE) <= 36 * 3600
    assert not redis_client.exists(PREVIOUS)


def test_newer_set_replaces_and_keeps_the_old_one_as_previous(redis_client):
    publish_calibration_set(redis_client, payload("2025-03-02T00:00:00Z", set_id=1), ttl_hours=36)
    outcome = publish_calibration_set(redis_client, payload("2025-03-03T00:00:00Z", set_id=2), ttl_hours=12)
    assert outcome is PublishOutcome.REPLACED
    assert json.loads(redis_client.get(LIVE))["calibration_set_id"] == 2
    assert json.loads(redis_client.get(PREVIOUS))["calibration_set_id"] == 1
    assert 0 < redis_client.ttl(PREVIOUS) <= 12 * 3600


def test_older_set_never_replaces_the_live_one(redis_client):
    publish_calibration_set(redis_client, payload("2025-03-03T00:00:00Z", set_id=2), ttl_hours=36)
    before = redis_client.get(LIVE)
    outcome = publish_calibration_set(redis_client, payload("2025-03-01T00:00:00Z", set_id=9), ttl_hours=36)
    assert outcome is PublishOutcome.STALE
    assert redis_client.get(LIVE) == before
    assert not redis_client.exists(PREVIOUS)


def test_identical_republish_changes_nothing_but_the_ttl(redis_client):
    publish_calibration_set(redis_client, payload("2025-03-02T00:00:00Z"), ttl_hours=1)
    before = redis_client.get(LIVE)
    outcome = publish_calibration_set(redis_client, payload("2025-03-02T00:00:00Z"), ttl_hours=36)
    assert outcome is PublishOutcome.UNCHANGED
    assert redis_client.get(LIVE) == before
    assert redis_client.ttl(LIVE) > 3600
    assert not redis_client.exists(PREVIOUS)


def test_same_as_of_with_new_numbers_updates_without_touching_previous(redis_client):
    publish_calibration_set(redis_client, payload("2025-03-01T00:00:00Z", set_id=1), ttl_hours=36)
    publish_calibration_set(redis_client, payload("2025-03-02T00:00:00Z", q=0.05, set_id=2), ttl_hours=36)
    outcome = publish_calibration_set(redis_client, payload("2025-03-02T00:00:00Z", q=0.07, set_id=2), ttl_hours=36)
    assert outcome is PublishOutcome.UPDATED
    assert json.loads(redis_client.get(LIVE))["levels"]["90"]["quantile"] == 0.07
    assert json.loads(redis_client.get(PREVIOUS))["calibration_set_id"] == 1


def test_each_change_is_announced_on_the_channel(redis_client):
    pubsub = redis_client.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(UPDATES_CHANNEL)
    time.sleep(0.05)
    publish_calibration_set(redis_client, payload("2025-03-02T00:00:00Z", set_id=5), ttl_hours=36)
    publish_calibration_set(redis_client, payload("2025-03-02T00:00:00Z", set_id=5), ttl_hours=36)  # unchanged
    messages = []
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:
        message = pubsub.get_message(timeout=0.1)
        if message:
            messages.append(json.loads(message["data"]))
    pubsub.close()
    assert messages == [
        {
            "model_type": "fraud_detector",
            "model_version": "v1",
            "as_of": "2025-03-02T00:00:00Z",
            "calibration_set_id": 5,
        }
    ]


def test_foreign_value_in_live_key_fails_loudly_and_is_left_alone(redis_client):
    redis_client.set(LIVE, "not json")
    with pytest.raises(Exception, match="does not hold a calibration payload"):
        publish_calibration_set(redis_client, payload("2025-03-02T00:00:00Z"), ttl_hours=36)
    assert redis_client.get(LIVE) == b"not json"


def test_readers_never_see_a_half_published_set(redis_client):
    """Many concurrent publishes of increasing as_of; a reader polls throughout.

    Every value read must be a complete payload, and live must never go backwards.
    """
    stop = threading.Event()
    seen: list[str] = []

    def reader():
        import redis

        client = redis.Redis.from_url(os.environ["REDIS_URL"])
        while not stop.is_set():
            raw = client.get(LIVE)
            if raw is not None:
                seen.append(json.loads(raw)["as_of"])
        client.close()

    thread = threading.Thread(target=reader)
    thread.start()
    days = [f"2025-01-{day:02d}T00:00:00Z" for day in range(1, 29)]
    deadline = time.monotonic() + 5
    # Repeat (newer, then older sets) until the reader has overlapped many publishes.
    while len(seen) <= 10 and time.monotonic() < deadline:
        for as_of in days + list(reversed(days)):
            publish_calibration_set(redis_client, payload(as_of), ttl_hours=1)
    stop.set()
    thread.join()
    assert len(seen) > 10, "the reader must have overlapped the publishes"
    assert seen == sorted(seen)
    assert read_live_payload(redis_client, "fraud_detector", "v1")["as_of"] == days[-1]


def test_a_version_named_like_another_versions_previous_key_is_refused(redis_client):
    """``v1:previous`` would publish to ``fraudcal:calibration:fraud_detector:v1:previous``: v1's rollback set."""
    publish_calibration_set(redis_client, payload("2025-03-02T00:00:00Z", set_id=1), ttl_hours=36)
    publish_calibration_set(redis_client, payload("2025-03-03T00:00:00Z", set_id=2), ttl_hours=36)
    before = {key: redis_client.get(key) for key in redis_client.scan_iter("fraudcal:*")}
    assert json.loads(before[PREVIOUS.encode()])["calibration_set_id"] == 1
    with pytest.raises(
        UnsafeNameError, match=r"model_version 'v1:previous' is not a safe name: ':' at index 2"
    ) as error:
        publish_calibration_set(
            redis_client, payload("2025-03-04T00:00:00Z", set_id=9, version="v1:previous"), ttl_hours=36
        )
    assert isinstance(error.value, InputError)  # fails the task at once: no retry can fix a name
    assert "[A-Za-z0-9._-]" in str(error.value)  # the rule is named
    assert {key: redis_client.get(key) for key in redis_client.scan_iter("fraudcal:*")} == before


@pytest.mark.parametrize(
    ("model_type", "model_version", "named"),
    [
        ("fraud_detector", "a/b", "model_version 'a/b'"),
        ("fraud_detector", "v1\r\nx", "model_version 'v1\\r\\nx'"),
        ("fraud_detector", "*", "model_version '*'"),
        ("fraud:detector", "v1", "model_type 'fraud:detector'"),
        ("fraud detector", "v1", "model_type 'fraud detector'"),
    ],
)
def test_no_key_is_ever_built_from_an_unsafe_name(redis_client, model_type, model_version, named):
    named = re.escape(named)
    for build in (live_key, previous_key):
        with pytest.raises(UnsafeNameError, match=named):
            build(model_type, model_version)
    with pytest.raises(UnsafeNameError, match=named):
        read_live_payload(redis_client, model_type, model_version)
    assert list(redis_client.scan_iter("fraudcal:*")) == []
