"""Write conformal intervals onto historical predictions: plan, apply in chunks, verify.

A backfill fills the four interval columns (``prediction_lower_bound``,
``prediction_upper_bound``, ``confidence_interval_width``, ``calibration_score``) of the
predictions in a date range, each from the calibration set *in force when it was made*: the
newest set with ``as_of <= predicted_at`` for its model version (DESIGN.md section 4).

- **Plan**: the id span of the rows to fill is cut into ranges of ``chunk_size`` ids, so a chunk
  never touches more than ``chunk_size`` rows. Ranges are fixed at planning time, so rows
  inserted meanwhile (larger ids) are neither touched nor lost.
- **Apply**: one set-based ``UPDATE`` per chunk, one short transaction, touching only the four
  interval columns and only where a value changes. A chunk waits at most 200 ms for a row
  locked by a concurrent writer, then rolls back and tries again: the backfill always yields,
  so it cannot deadlock a writer, and never holds its own locks for longer than one chunk.
- **Resume**: without ``overwrite``, a chunk only fills rows still NULL, so after a kill a
  re-run continues where the previous one stopped; the values are a deterministic function of
  the stored sets, so the final table is the same as an uninterrupted run's.
- **Verify**: rows left unfilled are counted by reason, and a random sample of filled rows is
  recomputed in Python (:mod:`fraudcal.conformal`) and must equal what is stored.
"""

from __future__ import annotations

import bisect
import logging
import random
import time
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from fraudcal.defaults import DEFAULT_CHUNK_SIZE, DEFAULT_LEVEL, RESIDUAL_METHOD
from fraudcal_airflow.db.calibration_sets import sets_of_model
from fraudcal_airflow.db.sql import load_sql, log_statement

if TYPE_CHECKING:
    import psycopg

log = logging.getLogger(__name__)

LOCK_RETRY_ATTEMPTS = 6


@dataclass(frozen=True)
class BackfillRequest:
    """Which rows a backfill fills, and how."""

    source: str
    model_type: str
    model_versions: tuple[str, ...]
    time_from: datetime  # inclusive
    time_to: datetime  # exclusive
    coverage_level: int = DEFAULT_LEVEL
    chunk_size: int = DEFAULT_CHUNK_SIZE
    overwrite: bool = False

    def params(self) -> dict[str, Any]:
        """The bound parameters the interval statements share."""
        return {
            "model_type": self.model_type,
            "model_versions": list(self.model_versions),
            "time_from": self.time_from,
            "time_to": self.time_to,
            "overwrite": self.overwrite,
            "level": str(self.coverage_level),
            "method": RESIDUAL_METHOD,
        }

    def as_dict(self) -> dict[str, Any]:
        values = asdict(self)
        values.update(
            model_versions=list(self.model_versions),
            time_from=self.time_from.isoformat(),
            time_to=self.time_to.isoformat(),
        )
        return values

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> BackfillRequest:
        return cls(
            **{
                **values,
                "model_versions": tuple(values["model_versions"]),
                "time_from": datetime.fromisoformat(values["time_from"]),
                "time_to": datetime.fromisoformat(values["time_to"]),
            }
        )


@dataclass(frozen=True)
class Chunk:
    """Rows with ``id_from <= id < id_to``."""

    id_from: int
    id_to: int


def plan_chunks(conn: psycopg.Connection, request: BackfillRequest) -> tuple[list[Chunk], int]:
    """Return the id-range chunks of the rows to fill, and how many rows they hold.

    One aggregate over the rows to fill; chunks of ``chunk_size`` consecutive ids between the
    smallest and largest of them (fewer rows where other versions or filled rows interleave).
    """
    with conn.cursor() as cur:
        total, first_id, last_id = cur.execute(log_statement("intervals/rows_to_fill", request.source), request.params()).fetchone()
    conn.commit()
    if not total:
        return [], 0
    return [
        Chunk(start, min(start + request.chunk_size, last_id + 1))
        for start in range(first_id, last_id + 1, request.chunk_size)
    ], int(total)


def apply_chunk(conn: psycopg.Connection, request: BackfillRequest, chunk: Chunk) -> int:
    """Fill one chunk in one transaction; return the rows written.

    A lock held by a concurrent writer makes the chunk give up after 200 ms and try again
    (up to :data:`LOCK_RETRY_ATTEMPTS` times, with jittered backoff); after that the error
    propagates and Airflow's retries take over.
    """
    import psycopg

    params = {**request.params(), "id_from": chunk.id_from, "id_to": chunk.id_to}
    for attempt in range(1, LOCK_RETRY_ATTEMPTS + 1):
        try:
            with conn.transaction(), conn.cursor() as cur:
                cur.execute(load_sql("intervals/set_chunk_lock_timeout"))
                cur.execute(log_statement("intervals/apply_chunk", request.source), params)
                return cur.rowcount
        except psycopg.errors.LockNotAvailable:
            if attempt == LOCK_RETRY_ATTEMPTS:
                raise
            pause = min(5.0, 0.2 * 2**attempt) * random.uniform(0.5, 1.0)
            log.warning("chunk %s: a row is locked by a concurrent writer; retry %d in %.1fs", chunk, attempt, pause)
            time.sleep(pause)
    raise AssertionError("unreachable")


def unfilled_by_reason(conn: psycopg.Connection, request: BackfillRequest) -> dict[str, int]:
    """Rows of the range still without an interval, by reason."""
    with conn.cursor() as cur:
        rows = cur.execute(log_statement("intervals/unfilled_rows_by_reason", request.source), request.params()).fetchall()
    conn.commit()
    return {reason: int(count) for reason, count in rows}


def set_in_force(sets: dict[str, tuple[list[datetime], list[dict[str, Any]]]], version: str, predicted_at: datetime):
    """The newest set with ``as_of <= predicted_at`` (Python twin of apply_chunk's width_bucket lookup)."""
    times, entries = sets.get(version, ([], []))
    position = bisect.bisect_right(times, predicted_at)
    return entries[position - 1] if position else None


def verify_sample(conn: psycopg.Connection, request: BackfillRequest, sample_size: int = 1000) -> dict[str, Any]:
    """Recompute a random sample of filled rows in Python; return counts and mismatches."""
    from fraudcal.conformal import prediction_intervals

    sets = sets_of_model(conn, request.model_type, RESIDUAL_METHOD)
    with conn.cursor() as cur:
        rows = cur.execute(
            log_statement("intervals/filled_sample", request.source), {**request.params(), "sample_size": sample_size}
        ).fetchall()
    conn.commit()
    mismatches = []
    for row_id, version, predicted_at, probability, lower, upper, width, score in rows:
        in_force = set_in_force(sets, version, predicted_at)
        expected = None
        if in_force is not None and str(request.coverage_level) in in_force["levels"]:
            quantile = float(in_force["levels"][str(request.coverage_level)]["quantile"])
            interval = prediction_intervals([probability], quantile, narrow_threshold=1.0)
            expected = (
                float(interval.lower[0]),
                float(interval.upper[0]),
                float(interval.width[0]),
                in_force["calibration_score"],
            )
        if expected != (lower, upper, width, score):
            mismatches.append({"id": row_id, "stored": [lower, upper, width, score], "expected": expected})
    return {"sampled": len(rows), "mismatches": mismatches[:20], "mismatch_count": len(mismatches)}
