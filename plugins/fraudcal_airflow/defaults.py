"""Settings every fraudcal DAG shares: owner, retries with backoff, timeouts."""

from __future__ import annotations

from datetime import timedelta

import pendulum

#: First data interval of the scheduled DAGs. Older dates are reached with backfills.
START_DATE = pendulum.datetime(2025, 1, 1, tz="UTC")

DEFAULT_ARGS = {
    "owner": "ml-platform",
    # Transient faults (a dropped connection, Redis restarting) are retried with backoff;
    # bad input raises AirflowFailException and is never retried.
    "retries": 3,
    "retry_delay": timedelta(seconds=30),
    "retry_exponential_backoff": True,
    "max_retry_delay": timedelta(minutes=10),
    "execution_timeout": timedelta(hours=1),
}

#: How long approve_triage waits for an operator before its default answer (Reject) applies:
#: less than a day, so that an unanswered jump is closed before the next daily run.
TRIAGE_RESPONSE_TIMEOUT = timedelta(hours=20)
