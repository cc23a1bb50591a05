"""Params several DAGs share, defined once so the trigger forms agree.

Each function returns a fresh ``Param`` (a Param object must not be shared between DAGs).
"""

from __future__ import annotations

from airflow.sdk import Param

DEFAULT_MODEL_TYPE = "fraud_detector"


def model_type_param() -> Param:
    """The model_type of the prediction log."""
    return Param(
        DEFAULT_MODEL_TYPE,
        type="string",
        minLength=1,
        maxLength=100,
        title="Model type",
        description="model_type in the prediction log.",
    )


def model_versions_param(description: str) -> Param:
    """A list of model versions; what an empty list means is the DAG's to say."""
    return Param(
        [],
        type="array",
        items={"type": "string", "minLength": 1, "maxLength": 200},
        uniqueItems=True,
        title="Model versions",
        description=description,
    )


def coverage_level_param(title: str, description: str) -> Param:
    """One of the supported coverage levels (percent)."""
    return Param(90, type="integer", enum=[90, 95, 99], title=title, description=description)


def narrow_threshold_param() -> Param:
    """Width below which an interval counts as narrow (an auto-ticket on HIGH/CRITICAL)."""
    return Param(
        0.2,
        type="number",
        exclusiveMinimum=0,
        maximum=1,
        title="Narrow threshold",
        description="An interval narrower than this is narrow (auto-ticket on HIGH/CRITICAL).",
    )


def recipients_param() -> Param:
    """E-mail recipients of a report."""
    return Param(
        ["fraud-ops@example.com"],
        type="array",
        minItems=1,
        items={"type": "string", "format": "email"},
        title="Recipients",
        description="E-mail addresses, one per line.",
    )
