"""Apply fraudcal's migrations and the dev mirror of the prediction logs (``make schema``).

Idempotent: applied migrations are recorded in ``fraudcal.schema_migrations`` and skipped.
"""

from __future__ import annotations

import os
import sys

import psycopg

from fraudcal_airflow.db.migrations import DEV_MIGRATIONS, OWNED_MIGRATIONS, apply_migrations


def main() -> int:
    url = os.environ.get("FRAUD_DB_URL")
    if not url:
        print("FRAUD_DB_URL is not set (run through `make schema`)", file=sys.stderr)
        return 2
    with psycopg.connect(url) as conn:
        applied = apply_migrations(conn, (OWNED_MIGRATIONS, DEV_MIGRATIONS))
    print(f"schema up to date; applied now: {applied or 'nothing'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
