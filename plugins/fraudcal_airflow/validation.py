"""Validate labeled outcomes with a Great Expectations suite built in code.

The suite encodes what the conformal method needs of its input (DESIGN.md 4): every
probability present and in [0, 1], every label present and 0 or 1, each prediction once,
every prediction inside the window, and at least ``min_samples`` rows. GX Core runs directly
in the task (the Airflow GX provider does not install beside Airflow 3.3.2); each run writes
its Data Docs to the artifacts folder. A failed validation yields one message per broken
rule, naming the column, the rule, how many rows break it, and example values.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

SUITE_NAME = "labeled_outcomes"


@dataclass(frozen=True)
class ValidationReport:
    """The outcome of one validation."""

    success: bool
    statistics: dict[str, Any]
    failures: list[str] = field(default_factory=list)
    data_docs: Path | None = None

    def summary(self) -> dict[str, Any]:
        """A JSON-ready summary (stored with the calibration set, pushed to XCom)."""
        return {
            "success": self.success,
            "statistics": self.statistics,
            "failures": self.failures,
            "data_docs": str(self.data_docs) if self.data_docs else None,
        }


def quiet_great_expectations() -> None:
    """Keep GX's INFO chatter out of the task log; call before GX is first imported.

    Importing GX logs about 215 "Skipping registering function ..." lines at INFO, which
    Airflow's task log shows before the validation's own error. Warnings and errors still show.
    """
    logging.getLogger("great_expectations").setLevel(logging.WARNING)


def build_expectations(min_samples: int, window_start: datetime, window_end: datetime) -> list[Any]:
    """Return the expectations of the labeled-outcomes suite.

    Each carries its rule in words in ``meta["rule"]``, which is what a failure message says.
    """
    quiet_great_expectations()
    import great_expectations.expectations as gxe

    window = f"[{window_start.isoformat()}, {window_end.isoformat()})"
    return [
        gxe.ExpectColumnValuesToNotBeNull(column="probability", meta={"rule": "probability must not be NULL or NaN"}),
        gxe.ExpectColumnValuesToBeBetween(
            column="probability", min_value=0.0, max_value=1.0, meta={"rule": "probability must be in [0, 1]"}
        ),
        gxe.ExpectColumnValuesToNotBeNull(column="label", meta={"rule": "label must not be NULL"}),
        gxe.ExpectColumnValuesToBeInSet(column="label", value_set=[0, 1], meta={"rule": "label must be 0 or 1"}),
        gxe.ExpectColumnValuesToBeUnique(column="id", meta={"rule": "prediction id must be unique"}),
        gxe.ExpectColumnValuesToBeBetween(
            column="predicted_at",
            min_value=window_start,
            max_value=window_end,
            strict_max=True,
            meta={"rule": f"predicted_at must be in the window {window}"},
        ),
        gxe.ExpectTableRowCountToBeBetween(
            min_value=min_samples, meta={"rule": f"row count must be at least min_samples={min_samples}"}
        ),
    ]


def _describe_failure(result: Any, rule: str, n_rows: int) -> str:
    """Turn one failed expectation result into a sentence naming the rule, ids and values."""
    details = result.result or {}
    if "unexpected_count" not in details:  # table-level rule, e.g. the row count
        return f"{rule}: observed {details.get('observed_value')}"
    column = result.expectation_config.kwargs.get("column")
    examples = [
        f"id {row['id']}" if column == "id" else f"id {row['id']}: {column}={row[column]}"
        for row in list(details.get("partial_unexpected_index_list") or [])[:5]
    ]
    shown = f" (e.g. {'; '.join(examples)})" if examples else ""
    return f"{rule}: {details['unexpected_count']} of {n_rows} rows break it{shown}"


def validate_outcomes(
    frame: pd.DataFrame,
    *,
    name: str,
    min_samples: int,
    window_start: datetime,
    window_end: datetime,
    docs_dir: Path | None = None,
) -> ValidationReport:
    """Validate a frame of labeled outcomes (columns id, probability, label, predicted_at).

    Parameters
    ----------
    frame : DataFrame
    name : str
        Shown in the Data Docs (e.g. ``"fraud_detector/v1 2025-03-01"``).
    min_samples : int
    window_start, window_end : datetime
        The window every ``predicted_at`` must fall in, ``[start, end)``.
    docs_dir : Path, optional
        Where to write the Data Docs site; none are written without it.

    Returns
    -------
    ValidationReport
    """
    quiet_great_expectations()
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    batch = (
        context.data_sources.add_pandas("labeled_outcomes")
        .add_dataframe_asset(name.replace("/", "_"))
        .add_batch_definition_whole_dataframe("window")
    )
    expectations = build_expectations(min_samples, window_start, window_end)
    suite = context.suites.add(gx.ExpectationSuite(name=SUITE_NAME, expectations=expectations))
    definition = context.validation_definitions.add(gx.ValidationDefinition(name=name, data=batch, suite=suite))
    actions = []
    if docs_dir is not None:
        docs_dir.mkdir(parents=True, exist_ok=True)
        context.add_data_docs_site(
            site_name="fraudcal",
            site_config={
                "class_name": "SiteBuilder",
                "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
                "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(docs_dir)},
            },
        )
        actions.append(gx.checkpoint.UpdateDataDocsAction(name="data_docs", site_names=["fraudcal"]))
    checkpoint = context.checkpoints.add(
        gx.Checkpoint(
            name=f"{SUITE_NAME}_checkpoint",
            validation_definitions=[definition],
            actions=actions,
            # SUMMARY keeps at most 20 examples per rule (cheap on a million rows) and, with the
            # index column, names the offending prediction ids.
            result_format={"result_format": "SUMMARY", "unexpected_index_column_names": ["id"]},
        )
    )
    run = checkpoint.run(batch_parameters={"dataframe": frame})
    validation = next(iter(run.run_results.values()))
    failures = [
        _describe_failure(
            result, (result.expectation_config.meta or {}).get("rule", result.expectation_config.type), len(frame)
        )
        for result in validation.results
        if not result.success
    ]
    return ValidationReport(
        success=bool(run.success),
        statistics=dict(validation.statistics),
        failures=failures,
        data_docs=(docs_dir / "index.html") if docs_dir is not None else None,
    )
