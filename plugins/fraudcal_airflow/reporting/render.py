"""Rendering helpers every report shares: templates, PNG charts, JSON-ready figures."""

from __future__ import annotations

import io
import math
from datetime import date
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import jinja2
    from matplotlib.figure import Figure


@cache
def template_environment() -> jinja2.Environment:
    """The Jinja2 environment of ``include/templates``.

    Autoescaped (a model version such as ``<img onerror=...>`` is shown, never run) and
    StrictUndefined (a missing figure fails the render instead of printing an empty cell).
    """
    from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

    from fraudcal_airflow.paths import TEMPLATES_DIR

    return Environment(
        loader=FileSystemLoader(TEMPLATES_DIR), autoescape=select_autoescape(["html", "j2"]), undefined=StrictUndefined
    )


def render_template(name: str, **values: Any) -> str:
    """Render ``include/templates/<name>`` with ``values``."""
    return template_environment().get_template(name).render(**values)


def new_figure(width: float, height: float) -> tuple[Figure, Any]:
    """A matplotlib figure and axis on the non-interactive Agg backend (workers have no screen)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=(width, height), dpi=100)


def figure_png(figure: Figure) -> bytes:
    """The figure as PNG bytes, laid out tightly; the figure is closed (no leak across charts)."""
    import matplotlib.pyplot as plt

    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    plt.close(figure)
    return buffer.getvalue()


def json_ready(value: Any) -> Any:
    """``value`` with NaN/inf as None, numpy scalars as Python numbers, dates as ISO text."""
    if isinstance(value, dict):
        return {str(key): json_ready(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_ready(item) for item in value]
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, date):
        return value.isoformat()
    return value
