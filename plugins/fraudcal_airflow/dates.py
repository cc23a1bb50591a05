"""Dates and times of runs, in one place: plain UTC, a run's ``as_of``, date ranges.

fraudcal stores and compares standard-library datetimes in UTC. Periods are half-open,
``[start, end)``; a user gives them as inclusive ISO dates (``2025-03-01`` to ``2025-03-07``),
which :func:`utc_day_range` turns into ``[2025-03-01 00:00, 2025-03-08 00:00)`` UTC.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from fraudcal_airflow.errors import InputError


def plain_utc(moment: datetime) -> datetime:
    """Return ``moment`` as a standard-library datetime in UTC.

    Airflow hands out pendulum datetimes, whose arithmetic and ISO output differ in small
    ways from the standard library's; fraudcal stores and compares plain UTC datetimes.
    """
    return datetime.fromtimestamp(moment.timestamp(), tz=UTC)


def as_of_for_run(data_interval_end: datetime | None, run_after: datetime | None) -> datetime:
    """Return the ``as_of`` of a run: its data interval end.

    A run triggered without a logical date has no data interval; it then uses the last
    midnight (UTC) before it was queued, like a scheduled run of that day.
    """
    if data_interval_end is not None:
        return plain_utc(data_interval_end)
    if run_after is None:
        raise ValueError("a run needs a data interval or a run_after time to know its as_of")
    return midnight(plain_utc(run_after).date())


def midnight(day: date) -> datetime:
    """00:00 UTC of ``day``."""
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def parse_day(name: str, value: str | None, error: type[InputError] = InputError) -> date:
    """Read the ISO date Param ``name``.

    Raises
    ------
    InputError
        (or the given subclass) naming the Param when the value is missing or not ``YYYY-MM-DD``.
    """
    if not value:
        raise error(f"{name} is required (an ISO date, YYYY-MM-DD)")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise error(f"{name}={value!r} is not an ISO date (YYYY-MM-DD)") from None


def utc_day_range(first: date, last: date, error: type[InputError] = InputError) -> tuple[datetime, datetime]:
    """Return ``[first 00:00, last + 1 day 00:00)`` in UTC for the inclusive days ``first..last``.

    Raises
    ------
    InputError
        (or the given subclass) when ``first`` is after ``last``.
    """
    if first > last:
        raise error(f"date_from={first} is after date_to={last}; the range is inclusive")
    return midnight(first), midnight(last) + timedelta(days=1)


def parse_date_range(
    date_from: str | None, date_to: str | None, error: type[InputError] = InputError
) -> tuple[datetime, datetime]:
    """The UTC half-open interval of the inclusive ISO dates ``date_from..date_to``."""
    return utc_day_range(parse_day("date_from", date_from, error), parse_day("date_to", date_to, error), error)
