"""Publish calibration sets to Redis: atomic, monotone in ``as_of``, with rollback.

Contract (DESIGN.md 3.3): the live set of a model version is the JSON string at
``fraudcal:calibration:{model_type}:{model_version}``; the set it replaced is kept at
``...:previous``; both expire after ``ttl_hours``. A version-2 payload whose Venn-Abers part is
too large for the main key has a companion at ``...:venn_abers`` (and ``...:previous:venn_abers``),
written, moved and expired together with its payload. One Lua script does the read-compare-write,
so Redis runs it as a single atomic step: no reader ever sees a half-published set, and two
publishers cannot interleave. A set replaces the live one only if its ``as_of`` is not older,
so a backfill of an old date never overwrites the live set. Every change is announced on the
channel ``fraudcal:calibration:updated``.

A key is only ever built from names that match :data:`fraudcal.names.SAFE_NAME_PATTERN` (no
``:``, so version ``v1:previous`` can never be version v1's rollback key); any other name is
refused with :class:`~fraudcal_airflow.errors.UnsafeNameError` before Redis is touched.
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from fraudcal.names import check_name
from fraudcal_airflow.errors import UnsafeNameError

if TYPE_CHECKING:
    import redis

KEY_PREFIX = "fraudcal:calibration"
UPDATES_CHANNEL = "fraudcal:calibration:updated"

# KEYS: live, previous, companion, previous companion. ARGV: payload, as_of, ttl seconds,
# channel, message, companion text ('' when the payload has none).
# as_of strings are fixed-width UTC ("YYYY-MM-DDTHH:MM:SSZ"), so string order is time order.
# The companion moves with its payload: to :previous:venn_abers on a replace, deleted when the
# new payload has none, so a reader never finds a companion that belongs to another payload
# (and checks the digest the payload names anyway).
_PUBLISH_SCRIPT = """
local live = redis.call('GET', KEYS[1])
local outcome = 'created'
if live then
  local ok, decoded = pcall(cjson.decode, live)
  if not ok or type(decoded) ~= 'table' or type(decoded['as_of']) ~= 'string' then
    return redis.error_reply('live key ' .. KEYS[1] .. ' does not hold a calibration payload')
  end
  if decoded['as_of'] > ARGV[2] then
    return 'stale'
  end
  if live == ARGV[1] then
    redis.call('EXPIRE', KEYS[1], ARGV[3])
    if redis.call('EXISTS', KEYS[3]) == 1 then
      redis.call('EXPIRE', KEYS[3], ARGV[3])
    end
    return 'unchanged'
  end
  if decoded['as_of'] < ARGV[2] then
    redis.call('SET', KEYS[2], live, 'EX', ARGV[3])
    local companion = redis.call('GET', KEYS[3])
    if companion then
      redis.call('SET', KEYS[4], companion, 'EX', ARGV[3])
    else
      redis.call('DEL', KEYS[4])
    end
    outcome = 'replaced'
  else
    outcome = 'updated'
  end
end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[3])
if ARGV[6] ~= '' then
  redis.call('SET', KEYS[3], ARGV[6], 'EX', ARGV[3])
else
  redis.call('DEL', KEYS[3])
end
redis.call('PUBLISH', ARGV[4], ARGV[5])
return outcome
"""


class PublishOutcome(StrEnum):
    """What a publish did."""

    CREATED = "created"  # no live set before
    REPLACED = "replaced"  # a newer as_of replaced the live set, which moved to :previous
    UPDATED = "updated"  # same as_of, different numbers (a re-run after late labels)
    UNCHANGED = "unchanged"  # the identical payload was already live; only the TTL refreshed
    STALE = "stale"  # the live set is newer; nothing was written


def live_key(model_type: str, model_version: str) -> str:
    """Return the Redis key of a model version's live calibration set.

    Raises
    ------
    UnsafeNameError
        If either name breaks :data:`fraudcal.names.SAFE_NAME_PATTERN`.
    """
    check_name("model_type", model_type, UnsafeNameError)
    check_name("model_version", model_version, UnsafeNameError)
    return f"{KEY_PREFIX}:{model_type}:{model_version}"


def previous_key(model_type: str, model_version: str) -> str:
    """Return the Redis key of the set the live one replaced (names checked as by :func:`live_key`)."""
    return f"{live_key(model_type, model_version)}:previous"


def companion_keys(model_type: str, model_version: str) -> tuple[str, str]:
    """The keys of the Venn-Abers companion of the live payload and of the previous one."""
    from fraudcal.online import companion_key

    return companion_key(live_key(model_type, model_version)), companion_key(previous_key(model_type, model_version))


def encode_payload(payload: dict[str, Any]) -> str:
    """Return the canonical JSON text of a payload (:func:`fraudcal.payload.canonical_json`).

    Canonical, so that publishing the same set twice is recognised as ``unchanged``, and so
    that a companion's stored text is the one its digest was computed on.
    """
    from fraudcal.payload import canonical_json

    return canonical_json(payload)


def publish_calibration_set(
    client: redis.Redis, payload: dict[str, Any], ttl_hours: float, companion: dict[str, Any] | None = None
) -> PublishOutcome:
    """Publish one payload (and its Venn-Abers companion, if any) atomically; return what happened.

    Parameters
    ----------
    client : redis.Redis
    payload : dict
        A payload: version 1 (:func:`fraudcal.calibration_set.calibration_payload`) or version 2
        (:func:`fraudcal.payload.payload_v2`'s main document).
    ttl_hours : float
        Expiry of the live and previous keys (and of their companions).
    companion : dict, optional
        :func:`fraudcal.payload.payload_v2`'s companion, written in the same atomic step at
        ``<live key>:venn_abers``; without one, a companion left from an earlier payload is deleted.

    Raises
    ------
    UnsafeNameError
        If the payload's model_type or model_version breaks the name rule; nothing is written.
    """
    if ttl_hours <= 0:
        raise ValueError(f"ttl_hours={ttl_hours!r} must be positive")
    model_type, model_version = payload["model_type"], payload["model_version"]
    live, previous = live_key(model_type, model_version), previous_key(model_type, model_version)
    message = json.dumps(
        {
            "model_type": model_type,
            "model_version": model_version,
            "as_of": payload["as_of"],
            "calibration_set_id": payload["calibration_set_id"],
        },
        sort_keys=True,
    )
    live_companion, previous_companion = companion_keys(model_type, model_version)
    result = client.eval(
        _PUBLISH_SCRIPT,
        4,
        live,
        previous,
        live_companion,
        previous_companion,
        encode_payload(payload),
        payload["as_of"],
        max(1, round(ttl_hours * 3600)),
        UPDATES_CHANNEL,
        message,
        encode_payload(companion) if companion is not None else "",
    )
    return PublishOutcome(result.decode() if isinstance(result, bytes) else result)


def read_live_payload(client: redis.Redis, model_type: str, model_version: str) -> dict[str, Any] | None:
    """Return the decoded live payload of a model version, or ``None``."""
    raw = client.get(live_key(model_type, model_version))
    return None if raw is None else json.loads(raw)


def read_previous_payload(client: redis.Redis, model_type: str, model_version: str) -> dict[str, Any] | None:
    """Return the decoded set the live one replaced (``:previous``), or ``None``."""
    raw = client.get(previous_key(model_type, model_version))
    return None if raw is None else json.loads(raw)
