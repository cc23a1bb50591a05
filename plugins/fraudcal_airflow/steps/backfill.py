"""The steps of ``backfill_prediction_intervals``: plan chunks, apply each, verify.

The SQL side (the as-of UPDATE, the counts, the sample) is :mod:`fraudcal_airflow.db.intervals`;
these steps turn the Params into a :class:`~fraudcal_airflow.db.intervals.BackfillRequest` and
report what happened.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from fraudcal_airflow.dates import parse_date_range
from fraudcal_airflow.db.intervals import BackfillRequest, Chunk
from fraudcal_airflow.errors import BackfillInputError, VerificationError


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
    )


@dataclass(frozen=True)
class BackfillPlan:
    """The request, the rows it considers, and the chunks to apply (none in a dry run)."""

    request: BackfillRequest
    rows: int
    chunks: tuple[Chunk, ...]
    dry_run: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "request": self.request.as_dict(),
            "rows": self.rows,
            "chunks": [{"id_from": chunk.id_from, "id_to": chunk.id_to} for chunk in self.chunks],
            "dry_run": self.dry_run,
        }


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
        chunks, rows = intervals.plan_chunks(conn, request)
    dry_run = bool(params["dry_run"])
    print(
        f"{rows:,} rows of {versions} in [{request.time_from:%Y-%m-%d}, {request.time_to:%Y-%m-%d}) to consider, "
        f"in {len(chunks)} chunks of up to {request.chunk_size:,}" + (" (dry run: nothing written)" if dry_run else "")
    )
    return BackfillPlan(request, rows, () if dry_run else tuple(chunks), dry_run)


def apply_chunk(request: Mapping[str, Any], chunk: Mapping[str, int]) -> int:
    """Fill one id range in one transaction; return the rows written."""
    from fraudcal_airflow.connections import fraud_db_connection
    from fraudcal_airflow.db import intervals

    with fraud_db_connection() as conn:
        written = intervals.apply_chunk(conn, BackfillRequest.from_dict(request), Chunk(**chunk))
    print(f"ids [{chunk['id_from']}, {chunk['id_to']}): {written:,} rows written")
    return written


@dataclass(frozen=True)
class Verification:
    """What a backfill did: rows written, rows left unfilled by reason, the sample check."""

    request: dict[str, Any]
    dry_run: bool
    rows_considered: int
    rows_written: int
    unfilled: dict[str, int]
    sample: dict[str, Any]

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


def verify(planned: Mapping[str, Any], written: list[int] | None) -> Verification:
    """Count rows left unfilled by reason; recompute a random sample in Python.

    Raises
    ------
    VerificationError
        If a stored interval differs from the Python recomputation (a defect, not bad input).
    """
    from fraudcal_airflow.connections import fraud_db_connection
    from fraudcal_airflow.db import intervals

    request = BackfillRequest.from_dict(planned["request"])
    with fraud_db_connection() as conn:
        unfilled = intervals.unfilled_by_reason(conn, request)
        sample = intervals.verify_sample(conn, request)
    result = Verification(
        request=dict(planned["request"]),
        dry_run=bool(planned["dry_run"]),
        rows_considered=int(planned["rows"]),
        rows_written=int(sum(written or [])),
        unfilled=unfilled,
        sample=sample,
    )
    for reason, count in unfilled.items():
        print(f"left unfilled: {count:,} rows: {reason}")
    print(
        f"rows written {result.rows_written:,}; sample of {sample['sampled']} recomputed, "
        f"{sample['mismatch_count']} mismatches"
    )
    if sample["mismatch_count"]:
        raise VerificationError(f"stored intervals differ from the Python recomputation: {sample['mismatches']}")
    return result
