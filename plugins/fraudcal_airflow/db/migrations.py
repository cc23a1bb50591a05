"""fraudcal's numbered schema migrations.

Migrations are the files ``include/sql/migrations/<group>/NNNN_name.sql``, applied in name
order, each in its own transaction together with its row in ``fraudcal.schema_migrations``,
under an advisory lock so that two runs starting together cannot both apply one. Group
``fraudcal`` is the schema this project owns (applied by the DAGs too); group ``dev`` mirrors
the application's prediction logs for local runs and tests (``make schema`` only).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fraudcal_airflow.db.sql import load_sql
from fraudcal_airflow.paths import SQL_DIR

if TYPE_CHECKING:
    import psycopg

OWNED_MIGRATIONS = "fraudcal"
DEV_MIGRATIONS = "dev"


def migration_names(group: str) -> list[str]:
    """Return the migrations of ``group`` in the order they apply (``"fraudcal/0001_..."``)."""
    folder = SQL_DIR / "migrations" / group
    return [f"{group}/{path.stem}" for path in sorted(folder.glob("[0-9][0-9][0-9][0-9]_*.sql"))]


def apply_migrations(conn: psycopg.Connection, groups: tuple[str, ...] = (OWNED_MIGRATIONS,)) -> list[str]:
    """Apply the migrations of ``groups`` not yet applied; return the names applied now."""
    applied_now: list[str] = []
    with conn.cursor() as cur:
        with conn.transaction():
            cur.execute(load_sql("migrations/create_migrations_table"))
        for group in groups:
            for name in migration_names(group):
                with conn.transaction():
                    cur.execute(load_sql("migrations/lock_migrations"))
                    cur.execute(load_sql("migrations/applied_migrations"))
                    if name in {row[0] for row in cur.fetchall()}:
                        continue
                    cur.execute(load_sql(f"migrations/{name}"))
                    cur.execute(load_sql("migrations/record_migration"), {"name": name})
                    applied_now.append(name)
    return applied_now
