"""What a running task knows about its run, as one plain value the steps can take.

DAG tasks call :func:`current_run` and hand the result to a step; steps never read Airflow's
context themselves, so a test builds a :class:`RunInfo` and calls the step directly.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fraudcal_airflow.dates import as_of_for_run, plain_utc


@dataclass(frozen=True)
class RunInfo:
    """The identity and data interval of one DAG run.

    Attributes
    ----------
    dag_id, run_id : str
    run_type : str
        ``scheduled``, ``manual``, ``backfill`` or ``asset_triggered``.
    as_of : datetime
        The data interval end (UTC); for a run without a data interval, the last midnight
        before it was queued.
    interval_start : datetime or None
        The data interval start, when the run has one.
    params : mapping
        The run's Params, as validated by Airflow.
    triggering_extras : tuple of dict
        The ``extra`` of each Asset event that triggered the run (empty unless asset-triggered).
    """

    dag_id: str
    run_id: str
    run_type: str
    as_of: datetime
    interval_start: datetime | None
    params: Mapping[str, Any]
    triggering_extras: tuple[dict[str, Any], ...] = ()

    @property
    def is_backfill(self) -> bool:
        """Whether this run was created by ``airflow backfill``."""
        return self.run_type == "backfill"


def current_run() -> RunInfo:
    """The :class:`RunInfo` of the task that is running now."""
    from airflow.sdk import get_current_context

    context = get_current_context()
    start = context.get("data_interval_start")
    return RunInfo(
        dag_id=context["dag"].dag_id,
        run_id=context["run_id"],
        run_type=str(getattr(context["dag_run"].run_type, "value", context["dag_run"].run_type)),
        as_of=as_of_for_run(context.get("data_interval_end"), context["dag_run"].run_after),
        interval_start=plain_utc(start) if start is not None else None,
        params=dict(context["params"]),
        triggering_extras=tuple(
            dict(event.extra or {})
            for events in (context.get("triggering_asset_events") or {}).values()
            for event in events
        ),
    )


def set_asset_extra(asset: Any, extra: dict[str, Any]) -> None:
    """Attach ``extra`` to the event the running task emits for ``asset`` (one of its outlets)."""
    from airflow.sdk import get_current_context

    get_current_context()["outlet_events"][asset].extra = extra


def current_request(request_type: Any, map_index_label: str | None = None) -> tuple[Any, RunInfo]:
    """The running task's request (``request_type.from_params`` of its Params) and its run.

    ``map_index_label`` names a mapped task instance in the UI (:func:`label_map_index`).
    """
    if map_index_label:
        label_map_index(map_index_label)
    run = current_run()
    return request_type.from_params(run.params), run


#: ``map_index_template`` of fraudcal's mapped tasks: the UI shows the label a task sets with
#: :func:`label_map_index` (a model version, an id range) instead of 0, 1, 2, ...
MAP_INDEX_TEMPLATE = "{{ fraudcal_map_index_label }}"


def label_map_index(label: str) -> None:
    """Name the running mapped task instance in the UI (see :data:`MAP_INDEX_TEMPLATE`)."""
    from airflow.sdk import get_current_context

    get_current_context()["fraudcal_map_index_label"] = label
