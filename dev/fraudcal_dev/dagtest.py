"""Run fraudcal DAGs in-process with ``dag.test()`` and read what they did.

Used by ``make demo`` and the integration tests; Airflow's metadata DB must exist (a SQLite
file in a temporary ``AIRFLOW_HOME`` is enough).
"""

from __future__ import annotations

import copy
import importlib.util
import sys
from typing import Any

import pendulum

from fraudcal_airflow.paths import PROJECT_ROOT

DAGS = PROJECT_ROOT / "dags"


def load_dag(dag_id: str):
    """Import a DAG file by its id (file name) and return the DAG object."""
    module_name = f"dagfile_{dag_id}"
    if module_name not in sys.modules:
        spec = importlib.util.spec_from_file_location(module_name, DAGS / f"{dag_id}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        spec.loader.exec_module(module)
    return _dag_of(sys.modules[module_name], dag_id)


def _dag_of(module, dag_id: str):
    from airflow.sdk import DAG

    dags = [value for value in vars(module).values() if isinstance(value, DAG) and value.dag_id == dag_id]
    if dags:
        return dags[0]
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS / f"{dag_id}.py")).dags[dag_id]


_PRISTINE_PARAMS: dict[str, dict[str, Any]] = {}


def run_dag(
    dag_id: str,
    logical_date: str,
    conf: dict[str, Any] | None = None,
    *,
    retries: int | None = None,
    run_after: str | None = None,
):
    """Run ``dag_id`` for ``logical_date`` (ISO date) with ``dag.test``; return the DagRun.

    The run id is ``manual__<run_after>`` (default: now); the same ``run_after`` (ISO) runs the
    same run again, as clearing a run does.

    ``dag.test(run_conf=...)`` writes the conf into the DAG object's Params, so a later run
    in the same process would inherit it; every run here starts from the declared defaults.
    ``retries`` overrides every task's retries for this run (e.g. 0 to fail fast).

    ``dag.test`` cannot answer a human-in-the-loop request (it would wait forever for an
    api-server), so ``triage_approval`` defaults to false here: a triage jump takes force at
    once and the run says so. A caller may still pass ``triage_approval=True`` explicitly.
    """
    dag = load_dag(dag_id)
    defaults = _PRISTINE_PARAMS.setdefault(dag_id, copy.deepcopy(dag.params.dump()))
    if "triage_approval" in defaults:
        defaults["triage_approval"] = False
    saved = {task.task_id: task.retries for task in dag.tasks}
    if retries is not None:
        for task in dag.tasks:
            task.retries = retries
    try:
        return dag.test(
            logical_date=pendulum.parse(logical_date),
            run_after=pendulum.parse(run_after) if run_after else None,
            run_conf={**copy.deepcopy(defaults), **(conf or {})},
        )
    finally:
        for task in dag.tasks:
            task.retries = saved[task.task_id]


def task_states(dag_run) -> dict[str, str]:
    """``{task_id[map_index]: state}`` of a finished run."""
    return {
        f"{ti.task_id}[{ti.map_index}]" if ti.map_index >= 0 else ti.task_id: str(ti.state)
        for ti in dag_run.get_task_instances()
    }


def xcom_values(dag_run, task_id: str) -> list[Any]:
    """Return the return values of ``task_id`` in ``dag_run``, ordered by map index."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = (
            session.query(XComModel)
            .filter(
                XComModel.dag_id == dag_run.dag_id,
                XComModel.run_id == dag_run.run_id,
                XComModel.task_id == task_id,
                XComModel.key == "return_value",
            )
            .order_by(XComModel.map_index)
            .all()
        )
        return [XComModel.deserialize_value(row) for row in rows]
