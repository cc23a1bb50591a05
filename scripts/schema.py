"""Apply fraudcal's own migrations (``make schema``); with ``--dev-tables``, the dev prediction logs too.

Idempotent: applied migrations are recorded in ``fraudcal.schema_migrations`` and skipped.
Without ``--dev-tables`` only schema ``fraudcal`` is touched (what the DAGs apply themselves at
the start of each run), so any database will do, production included. ``--dev-tables``
(``make schema DEV_TABLES=1``) also creates the mirror of the application's prediction logs
(``include/sql/migrations/dev``) and is refused on a database that is not scratch
(:mod:`fraudcal_dev.scratch`).
"""

from __future__ import annotations

import argparse
import os
import sys

import psycopg

from fraudcal_airflow.db.migrations import DEV_MIGRATIONS, OWNED_MIGRATIONS, apply_migrations
from fraudcal_dev.scratch import NotScratchError, redacted, require_scratch_database


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--dev-tables",
        action="store_true",
        help="also create the dev prediction logs (a scratch database only: marked, or FRAUDCAL_SCRATCH=1)",
    )
    args = parser.parse_args(argv)
    url = os.environ.get("FRAUD_DB_URL")
    if not url:
        print("FRAUD_DB_URL is not set (run through `make schema`)", file=sys.stderr)
        return 2
    groups = (OWNED_MIGRATIONS,)
    if args.dev_tables:
        try:
            require_scratch_database(url)
        except NotScratchError as refusal:
            print(f"refused: {refusal}", file=sys.stderr)
            return 2
        groups = (OWNED_MIGRATIONS, DEV_MIGRATIONS)
    with psycopg.connect(url) as conn:
        applied = apply_migrations(conn, groups)
    print(f"schema ({', '.join(groups)}) up to date on {redacted(url)}; applied now: {applied or 'nothing'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
