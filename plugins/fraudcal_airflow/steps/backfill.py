"""The steps of ``backfill_prediction_intervals``: plan chunks, apply them, verify.

The SQL side (the as-of UPDATE, the counts, the sample) is :mod:`fraudcal_airflow.db.intervals`;
these steps turn the Params into a :class:`~fraudcal_airflow.db.intervals.BackfillRequest` and
report what happened.

Airflow maps at most ``[core] max_map_length`` task instances (1,024 by default) over one
return value, so the plan never asks for more than :data:`MAX_MAPPED_TASKS`: above that many
chunks, each mapped ``apply_chunk`` applies a run of consecutive chunks, each chunk still its
own short transactions.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from fraudcal.defaults import RESIDUAL_METHOD
from fraudcal_airflow.dates import parse_date_range
from fraudcal_airflow.db.intervals import BackfillRequest, Chunk, cut_chunks
from fraudcal_airflow.errors import BackfillInputError, VerificationError

#: Most mapped ``apply_chunk`` task instances one run creates: a quarter of Airflow's default
#: ``[core] max_map_length`` (1,024), so that a deployment which lowered it still has room.
MAX_MAPPED_TASKS = 256


def request_from_params(params: Mapping[str, Any], versions: list[str]) -> BackfillRequest:
    """The backfill request of the Params, for the resolved ``versions``.

    Raises
    ------
    BackfillInputError
        Naming the Param when a date is not ``YYYY-MM-DD`` or the range is reversed.
    """
    time_from, time_to = parse_date_range(params["date_from"], params["date_to"], BackfillInputError)
    if params["chunk_size"] < 1:
        raise BackfillInputError(f"chunk_size={params['chunk_size']} must be positive")
    return BackfillRequest(
        source=params["source"],
        model_type=params["model_type"],
        model_versions=tuple(versions),
        time_from=time_from,
        time_to=time_to,
        coverage_level=params["coverage_level"],
        chunk_size=params["chunk_size"],
        overwrite=params["overwrite"],
        method=params.get("method", RESIDUAL_METHOD),
    )


def chunk_batches(span: Chunk | None, chunk_size: int, max_batches: int | None = None) -> tuple[Chunk, ...]:
    """``span``'s chunks grouped into at most ``max_batches`` (default :data:`MAX_MAPPED_TASKS`)
    id ranges of consecutive whole chunks, as even as chunk boundaries allow.

    Cutting a batch with :func:`~fraudcal_airflow.db.intervals.cut_chunks` gives exactly the
    chunks of ``span`` it holds: batch starts lie on the chunk grid of ``span``.
    """
    if span is None or span.id_to <= span.id_from:
        return ()
    limit = MAX_MAPPED_TASKS if max_batches is None else max_batches
    chunks = -(-(span.id_to - span.id_from) // chunk_size)
    per_batch = -(-chunks // limit)
    step = per_batch * chunk_size
    return tuple(Chunk(start, min(start + step, span.id_to)) for start in range(span.id_from, span.id_to, step))


@dataclass(frozen=True)
class BackfillPlan:
    """The request, the rows it considers, their id span, and the id ranges the mapped tasks
    apply (none in a dry run)."""

    request: BackfillRequest
    rows: int
    span: Chunk | None
    batches: tuple[Chunk, ...]
    dry_run: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "request": self.request.as_dict(),
            "rows": self.rows,
            # [0, 0) when nothing was to fill: every row verify finds unfilled came later
            "span": {"id_from": 0, "id_to": 0} if self.span is None else _range(self.span),
            "batches": [_range(batch) for batch in self.batches],
            "dry_run": self.dry_run,
        }


def _range(chunk: Chunk) -> dict[str, int]:
    return {"id_from": chunk.id_from, "id_to": chunk.id_to}


def plan(params: Mapping[str, Any]) -> BackfillPlan:
    """Check the Params, resolve the versions, and cut the rows to fill into id ranges."""
    from fraudcal_airflow.connections import fraud_db_connection
    from fraudcal_airflow.db import intervals
    from fraudcal_airflow.db.prediction_log import requested_or_known_versions

    parse_date_range(params["date_from"], params["date_to"], BackfillInputError)  # bad dates fail before any query
    with fraud_db_connection() as conn:
        versions = requested_or_known_versions(
            conn, params["source"], params["model_type"], params["model_versions"], BackfillInputError
        )
        request = request_from_params(params, versions)
        span, rows = intervals.plan_span(conn, request)
    dry_run = bool(params["dry_run"])
    batches = chunk_batches(span, request.chunk_size)
    chunks = 0 if span is None else -(-(span.id_to - span.id_from) // request.chunk_size)
    print(
        f"{rows:,} rows of {versions} in [{request.time_from:%Y-%m-%d}, {request.time_to:%Y-%m-%d}) to consider, "
        f"in {chunks:,} chunks of up to {request.chunk_size:,} ids, applied by {len(batches)} mapped tasks"
        + (" (dry run: nothing written)" if dry_run else "")
    )
    return BackfillPlan(request, rows, span, () if dry_run else batches, dry_run)


@dataclass(frozen=True)
class ChunksApplied:
    """What one mapped task did: its chunks, rows written, rows left because writers held them."""

    chunks: int
    written: int
    left_locked: int

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


def apply_batch(request: Mapping[str, Any], batch: Mapping[str, int]) -> ChunksApplied:
    """Fill the chunks of one id range in order, each in its own short transactions."""
    from fraudcal_airflow.connections import fraud_db_connection
    from fraudcal_airflow.db import intervals

    backfill = BackfillRequest.from_dict(request)
    chunks = cut_chunks(Chunk(**batch), backfill.chunk_size)
    written = left = 0
    with fraud_db_connection() as conn:
        for chunk in chunks:
            result = intervals.fill_chunk(conn, backfill, chunk)
            written, left = written + result.written, left + result.left
            print(
                f"ids [{chunk.id_from}, {chunk.id_to}): {result.written:,} rows written in {result.passes} pass(es)"
                + (f", {result.left:,} held by concurrent writers: left for the next run" if result.left else "")
            )
    return ChunksApplied(len(chunks), written, left)


@dataclass(frozen=True)
class Verification:
    """What a backfill did: rows written, rows left unfilled by reason, the sample check."""

    request: dict[str, Any]
    dry_run: bool
    rows_considered: int
    rows_written: int
    unfilled: dict[str, int]
    sample: dict[str, Any]
    #: rows the chunks skipped through every pass because concurrent writers held them
    rows_left_locked: int = 0

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @property
    def asset_extra(self) -> dict[str, Any]:
        """What the ``fraudcal_prediction_intervals`` event carries."""
        return {
            "rows_written": self.rows_written,
            "unfilled": self.unfilled,
            "model_type": self.request["model_type"],
            "date_from": self.request["time_from"][:10],
            # time_to is exclusive: the inclusive last day is the one before it
            "date_to": (datetime.fromisoformat(self.request["time_to"]) - timedelta(days=1)).date().isoformat(),
        }


def verify(planned: Mapping[str, Any], applied: list[Mapping[str, int]] | None) -> Verification:
    """Count rows left unfilled by reason; recompute a random sample in Python.

    Raises
    ------
    VerificationError
        If a stored interval differs from the Python recomputation (a defect, not bad input).
    """
    from fraudcal_airflow.connections import fraud_db_connection
    from fraudcal_airflow.db import intervals

    request = BackfillRequest.from_dict(planned["request"])
    dry_run = bool(planned["dry_run"])
    with fraud_db_connection() as conn:
        unfilled = intervals.unfilled_by_reason(conn, request, Chunk(**planned["span"]), dry_run=dry_run)
        sample = intervals.verify_sample(conn, request)
    applied = list(applied or [])
    result = Verification(
        request=dict(planned["request"]),
        dry_run=dry_run,
        rows_considered=int(planned["rows"]),
        rows_written=sum(int(batch["written"]) for batch in applied),
        unfilled=unfilled,
        sample=sample,
        rows_left_locked=sum(int(batch["left_locked"]) for batch in applied),
    )
    for reason, count in unfilled.items():
        print(f"left unfilled: {count:,} rows: {reason}")
    if result.rows_left_locked:
        print(
            f"{result.rows_left_locked:,} rows were held by concurrent writers through every pass of their chunk: "
            "trigger the backfill again (overwrite off) to fill them"
        )
    print(
        f"rows written {result.rows_written:,}; sample of {sample['sampled']} recomputed, "
        f"{sample['mismatch_count']} mismatches"
    )
    if sample["mismatch_count"]:
        raise VerificationError(f"stored intervals differ from the Python recomputation: {sample['mismatches']}")
    return result
