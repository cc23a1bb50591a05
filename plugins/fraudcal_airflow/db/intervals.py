"""Write conformal intervals onto historical predictions: plan, apply in chunks, verify.

A backfill fills the four interval columns (``prediction_lower_bound``,
``prediction_upper_bound``, ``confidence_interval_width``, ``calibration_score``) of the
predictions in a date range, each from the calibration set *in force when it was made*: the
newest set with ``as_of <= predicted_at`` for its model version (DESIGN.md section 4).

- **Plan**: the id span of the rows to fill is cut into ranges of ``chunk_size`` ids, so a chunk
  never touches more than ``chunk_size`` rows. The span is fixed at planning time, so rows
  inserted meanwhile (larger ids) are neither touched nor lost: the next run fills them.
- **Apply**: one set-based statement per pass over a chunk, one short transaction, touching
  only the four interval columns and only where a value changes. It locks the rows to write
  in id order with ``FOR NO KEY UPDATE SKIP LOCKED``: a row a concurrent writer holds is
  skipped, never waited for, and retried by a later pass (:data:`LOCK_PASSES` in all, with a
  short backoff); what is still held after the last pass is left for the next run and
  counted. Once it holds a row lock the statement waits for nothing, so it can never be part
  of a deadlock, and every pass writes every row that nobody else holds at that moment, so the
  backfill always progresses and finishes in bounded time however busy the table is.
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

from fraudcal.defaults import DEFAULT_CHUNK_SIZE, DEFAULT_LEVEL, RESIDUAL_METHOD, VENN_ABERS_METHOD
from fraudcal_airflow.db.calibration_sets import sets_of_model
from fraudcal_airflow.db.sql import load_sql, log_statement

if TYPE_CHECKING:
    import psycopg

log = logging.getLogger(__name__)

#: Passes a chunk makes over the rows it had to skip because a concurrent writer held them
#: (the first pass included); what is still held after the last one is left for the next run.
LOCK_PASSES = 6
#: Pause before the second pass, doubled before each further one (x a random 0.5-1 jitter).
PASS_BACKOFF_SECONDS = 0.05


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
    #: ``residual`` (the interval of the level's quantile) or ``venn_abers`` ([p0, p1]).
    method: str = RESIDUAL_METHOD

    def params(self) -> dict[str, Any]:
        """The bound parameters the interval statements share."""
        return {
            "model_type": self.model_type,
            "model_versions": list(self.model_versions),
            "time_from": self.time_from,
            "time_to": self.time_to,
            "overwrite": self.overwrite,
            "level": str(self.coverage_level),
            "method": self.method,
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


def cut_chunks(span: Chunk, chunk_size: int) -> list[Chunk]:
    """``span`` cut into consecutive ranges of ``chunk_size`` ids (the last one shorter)."""
    return [Chunk(start, min(start + chunk_size, span.id_to)) for start in range(span.id_from, span.id_to, chunk_size)]


def plan_span(conn: psycopg.Connection, request: BackfillRequest) -> tuple[Chunk | None, int]:
    """The id span of the rows to fill (``None`` when there are none), and how many rows it holds.

    One aggregate over the rows to fill. Rows inserted later get larger ids: outside the span.
    """
    with conn.cursor() as cur:
        total, first_id, last_id = cur.execute(
            log_statement("intervals/rows_to_fill", request.source), request.params()
        ).fetchone()
    conn.commit()
    if not total:
        return None, 0
    return Chunk(first_id, last_id + 1), int(total)


def plan_chunks(conn: psycopg.Connection, request: BackfillRequest) -> tuple[list[Chunk], int]:
    """Return the id-range chunks of the rows to fill, and how many rows they hold.

    Chunks of ``chunk_size`` consecutive ids between the smallest and largest of them (fewer
    rows where other versions or filled rows interleave).
    """
    span, rows = plan_span(conn, request)
    return ([] if span is None else cut_chunks(span, request.chunk_size)), rows


@dataclass(frozen=True)
class ChunkResult:
    """What the passes over one chunk did: rows written, rows left because a writer held them."""

    written: int
    left: int
    passes: int


def fill_chunk(conn: psycopg.Connection, request: BackfillRequest, chunk: Chunk) -> ChunkResult:
    """Fill one chunk: one transaction per pass, never waiting for a row a writer holds.

    Each pass writes every row of the chunk that still needs it and that no other transaction
    holds; if it had to skip some, another pass follows after a short jittered backoff (it
    finds only what is still to write), up to :data:`LOCK_PASSES` passes. A pass that cannot
    get the table itself within ``lock_timeout`` (a DDL statement holds it) counts as a pass
    that wrote nothing; if the last pass cannot either, the error propagates and Airflow's
    retries take over.
    """
    import psycopg

    params = {**request.params(), "id_from": chunk.id_from, "id_to": chunk.id_to}
    statement = log_statement("intervals/apply_chunk", request.source)
    if request.method == VENN_ABERS_METHOD:
        params.update(venn_abers_values(conn, request, chunk))
        statement = log_statement("intervals/write_chunk_values", request.source)
    written = left = 0
    for number in range(1, LOCK_PASSES + 1):
        try:
            with conn.transaction(), conn.cursor() as cur:
                cur.execute(load_sql("intervals/set_chunk_lock_timeout"))
                to_write, wrote = cur.execute(statement, params).fetchone()
        except psycopg.errors.LockNotAvailable:
            if number == LOCK_PASSES:
                raise
            log.warning("chunk %s: the table is locked (DDL?); pass %d wrote nothing", chunk, number)
        else:
            written, left = written + wrote, to_write - wrote
            if not left:
                return ChunkResult(written, 0, number)
            if number == LOCK_PASSES:
                break
            log.info("chunk %s: %d rows held by concurrent writers; pass %d will retry them", chunk, left, number + 1)
        time.sleep(PASS_BACKOFF_SECONDS * 2 ** (number - 1) * random.uniform(0.5, 1.0))
    log.warning(
        "chunk %s: %d rows still held by concurrent writers after %d passes: left for the next run",
        chunk,
        left,
        LOCK_PASSES,
    )
    return ChunkResult(written, left, LOCK_PASSES)


def venn_abers_probabilities_in_force(
    sets: dict[str, tuple[list[datetime], list[dict[str, Any]]]],
    versions: list[str],
    predicted_at: list[datetime],
    probabilities: list[float],
) -> tuple[list[int], list[float], list[float], list[float]]:
    """For each row, [p0, p1] of the Venn-Abers set in force and that set's calibration_score.

    Returns the indexes of the rows that have a set in force, with their lower (p0), upper (p1)
    and calibration_score; rows predicted before any set are left out (left NULL).
    """
    import numpy as np

    from fraudcal.venn_abers import VennAbersSet, venn_abers_probabilities

    groups: dict[tuple[str, int], list[int]] = {}
    for row, (version, moment) in enumerate(zip(versions, predicted_at, strict=True)):
        times = sets.get(version, ([], []))[0]
        position = bisect.bisect_right(times, moment)
        if position:
            groups.setdefault((version, position - 1), []).append(row)
    kept, lower, upper, scores = [], [], [], []
    for (version, index), rows in groups.items():
        entry = sets[version][1][index]
        p0, p1, _ = venn_abers_probabilities(
            np.asarray([probabilities[row] for row in rows]), VennAbersSet.from_dict(entry["levels"])
        )
        kept += rows
        lower += p0.tolist()
        upper += p1.tolist()
        scores += [entry["calibration_score"]] * len(rows)
    return kept, lower, upper, scores


def venn_abers_values(conn: psycopg.Connection, request: BackfillRequest, chunk: Chunk) -> dict[str, list]:
    """The bound arrays of ``write_chunk_values`` for one chunk: [p0, p1] from the set in force."""
    sets = sets_of_model(conn, request.model_type, VENN_ABERS_METHOD)
    params = {**request.params(), "id_from": chunk.id_from, "id_to": chunk.id_to}
    with conn.cursor() as cur:
        rows = cur.execute(log_statement("intervals/venn_abers_candidates", request.source), params).fetchall()
    conn.commit()
    ids = [row[0] for row in rows]
    kept, lower, upper, scores = venn_abers_probabilities_in_force(
        sets, [row[1] for row in rows], [row[2] for row in rows], [float(row[3]) for row in rows]
    )
    return {"ids": [ids[row] for row in kept], "lower": lower, "upper": upper, "scores": scores}


def apply_chunk(conn: psycopg.Connection, request: BackfillRequest, chunk: Chunk) -> int:
    """Fill one chunk (:func:`fill_chunk`); return the rows written."""
    return fill_chunk(conn, request, chunk).written


def unfilled_by_reason(
    conn: psycopg.Connection, request: BackfillRequest, planned: Chunk | None = None, *, dry_run: bool = False
) -> dict[str, int]:
    """Rows of the range still without an interval, by reason.

    ``planned`` is the id span the run planned (an empty span when it found nothing to fill):
    rows outside it were inserted after planning. Without it (the daily repair) that reason
    is not told apart.
    """
    span = (
        {"span_from": None, "span_to": None}
        if planned is None
        else {"span_from": planned.id_from, "span_to": planned.id_to}
    )
    with conn.cursor() as cur:
        rows = cur.execute(
            log_statement("intervals/unfilled_rows_by_reason", request.source),
            {**request.params(), **span, "dry_run": dry_run},
        ).fetchall()
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

    sets = sets_of_model(conn, request.model_type, request.method)
    with conn.cursor() as cur:
        rows = cur.execute(
            log_statement("intervals/filled_sample", request.source), {**request.params(), "sample_size": sample_size}
        ).fetchall()
    conn.commit()
    mismatches = []
    for row_id, version, predicted_at, probability, lower, upper, width, score in rows:
        in_force = set_in_force(sets, version, predicted_at)
        expected = None
        if request.method == VENN_ABERS_METHOD:
            # one row at a time, from the set in force: the chunk computed whole arrays per set
            _, p0, p1, scores = venn_abers_probabilities_in_force(sets, [version], [predicted_at], [probability])
            if p0:
                expected = (p0[0], p1[0], p1[0] - p0[0], scores[0])
        elif in_force is not None and str(request.coverage_level) in in_force["levels"]:
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
