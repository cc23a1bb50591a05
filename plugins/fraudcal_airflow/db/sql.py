"""Load SQL statements from ``include/sql`` by name, and compose them for one prediction log.

Every statement fraudcal runs lives in a ``.sql`` file with a header comment; code refers to
it by its path without the extension (``"calibration/insert_calibration_set"``). Values are
always bound as parameters (``%(name)s``), never formatted into the text. The only text
composed in is identifiers (and fixed expressions built from them) taken from fraudcal's own
registries: the prediction logs (:mod:`fraudcal_airflow.db.sources`) and the supported
coverage levels (:data:`fraudcal.defaults.SUPPORTED_LEVELS`).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import TYPE_CHECKING

from fraudcal_airflow.paths import SQL_DIR

if TYPE_CHECKING:
    from psycopg import sql


#: The parts of a Mondrian set the report reads per level: (column part, class key, field).
MONDRIAN_PARTS = (("q0", "0", "quantile"), ("q1", "1", "quantile"), ("n1", "1", "n"))


def mondrian_column(part: str, level: int | str) -> str:
    """The name of one Mondrian figure of a level (``mondrian_q1_90``), as composed into SQL.

    ``part`` is one of :data:`MONDRIAN_PARTS`: ``q0``/``q1`` (the class quantiles) or ``n1``
    (the frauds of the set's window).
    """
    return f"mondrian_{part}_{level}"


@cache
def load_sql(name: str) -> str:
    """Return the text of ``include/sql/<name>.sql``.

    Raises
    ------
    FileNotFoundError
        If there is no such file (the message names the path looked at).
    """
    path = (SQL_DIR / f"{name}.sql").resolve()
    if SQL_DIR.resolve() not in path.parents:
        raise ValueError(f"SQL name {name!r} points outside {SQL_DIR}")
    if not path.is_file():
        raise FileNotFoundError(f"no SQL file {path} for statement {name!r}")
    return path.read_text(encoding="utf-8")


def log_statement(name: str, source: str, levels: Sequence[int | str] = ()) -> sql.Composed:
    """Compose ``include/sql/<name>.sql`` for the prediction log ``source``.

    Placeholders: ``{log}`` (the table), ``{probability}`` and ``{label}`` (columns),
    ``{is_fraud}`` (the label as a boolean), ``{is_high_risk}`` (HIGH or CRITICAL; FALSE for a
    log without risk levels), ``{has_risk_level}`` (TRUE for a log without), and with ``levels``: ``{quantile_arrays}`` (one array of the
    sets' quantiles per level, named ``q<level>``) and ``{quantile_columns}`` (each array read
    at the set in force, NaN where there is none); for Mondrian sets ``{mondrian_arrays}``
    (per level, arrays of ``q_0``, ``q_1`` and the window's frauds ``n_1``, named by
    :func:`mondrian_column`, from the jsonb ``levels`` of :meth:`fraudcal.mondrian.MondrianSet.to_dict`)
    and ``{mondrian_columns}`` (each read at the Mondrian set in force: alias ``m`` for the
    arrays, ``mb.position`` for its index, NaN where there is none).

    Raises
    ------
    InputError
        If ``source`` is not a prediction log of the registry.
    """
    from psycopg import sql

    from fraudcal_airflow.db.sources import prediction_log

    log = prediction_log(source)
    label = sql.SQL("p.") + sql.Identifier(log.label)
    is_fraud = label if log.label_type == "bool" else sql.SQL("({} = 1)").format(label)
    is_high_risk = (
        sql.SQL("(p.{} IN ('HIGH', 'CRITICAL'))").format(sql.Identifier(log.risk_level))
        if log.risk_level
        else sql.SQL("FALSE")
    )
    has_risk_level = (
        sql.SQL("(p.{} IS NOT NULL)").format(sql.Identifier(log.risk_level)) if log.risk_level else sql.SQL("TRUE")
    )
    names = [sql.Identifier(f"q{level}") for level in levels]
    quantile_arrays = sql.SQL(", ").join(
        sql.SQL("array_agg((levels -> {} ->> 'quantile')::double precision ORDER BY as_of) AS {}").format(
            sql.Literal(str(level)), name
        )
        for level, name in zip(levels, names, strict=True)
    )
    quantile_columns = sql.SQL(", ").join(
        sql.SQL("COALESCE(s.{}[b.position], 'NaN'::double precision)").format(name) for name in names
    )
    mondrian_names = [
        (sql.Identifier(mondrian_column(part, level)), sql.Literal(str(level)), sql.Literal(label), sql.Literal(field))
        for level in levels
        for part, label, field in MONDRIAN_PARTS
    ]
    mondrian_arrays = sql.SQL(", ").join(
        sql.SQL("array_agg((levels -> {} -> {} ->> {})::double precision ORDER BY as_of) AS {}").format(
            level, label, field, name
        )
        for name, level, label, field in mondrian_names
    )
    mondrian_columns = sql.SQL(", ").join(
        sql.SQL("COALESCE(m.{}[mb.position], 'NaN'::double precision)").format(name) for name, *_ in mondrian_names
    )
    return sql.SQL(load_sql(name)).format(
        log=sql.Identifier(log.table),
        probability=sql.Identifier(log.probability),
        label=sql.Identifier(log.label),
        is_fraud=is_fraud,
        is_high_risk=is_high_risk,
        has_risk_level=has_risk_level,
        quantile_arrays=quantile_arrays,
        quantile_columns=quantile_columns,
        mondrian_arrays=mondrian_arrays,
        mondrian_columns=mondrian_columns,
    )
