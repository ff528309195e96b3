"""Period arithmetic for recurring grants (pure, no I/O).

Period ``n`` of a schedule starts at ``period_start(anchor, interval, count, n)``. Every
start is computed from the anchor, never by adding to the previous start, so a monthly
schedule anchored on 31 Jan goes 31 Jan, 28/29 Feb, 31 Mar, 30 Apr... instead of drifting
to the 28th after February.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal, get_args

__all__ = [
    "Interval",
    "INTERVALS",
    "MAX_PERIODS",
    "Period",
    "DuePlan",
    "period_start",
    "period_end",
    "periods_due",
    "expiry_for",
    "plan_due",
]

Interval = Literal["DAY", "WEEK", "MONTH", "YEAR"]
INTERVALS: tuple[str, ...] = get_args(Interval)
# Daily schedules may start up to 366 days in the past: 367 periods must fit in one run.
MAX_PERIODS = 400


def _check(anchor: datetime, interval: str, interval_count: int, n: int) -> datetime:
    if anchor.tzinfo is None or anchor.utcoffset() is None:
        raise ValueError("anchor must be timezone-aware")
    if interval not in INTERVALS:
        raise ValueError(f"interval must be one of {', '.join(INTERVALS)}")
    if type(interval_count) is not int or interval_count < 1:  # bool/float refused
        raise ValueError("interval_count must be an integer >= 1")
    if type(n) is not int or n < 0:
        raise ValueError("period index must be an integer >= 0")
    # Calendar arithmetic happens on the UTC calendar whatever offset the caller used.
    return anchor.astimezone(UTC)


def _add_months(anchor: datetime, months: int) -> datetime:
    y, m0 = divmod(anchor.year * 12 + anchor.month - 1 + months, 12)
    if y > 9999:
        raise OverflowError("period start beyond year 9999")
    day = min(anchor.day, calendar.monthrange(y, m0 + 1)[1])  # clamp 31 Jan -> 28/29 Feb
    return anchor.replace(year=y, month=m0 + 1, day=day)  # keeps time of day and tz


def period_start(anchor: datetime, interval: Interval, interval_count: int, n: int) -> datetime:
    """Start of period ``n`` (0 = the anchor itself), in UTC.

    Raises ValueError for bad arguments, OverflowError past year 9999.
    """
    anchor = _check(anchor, interval, interval_count, n)
    steps = n * interval_count
    if interval == "DAY":
        return anchor + timedelta(days=steps)
    if interval == "WEEK":
        return anchor + timedelta(weeks=steps)
    if interval == "MONTH":
        return _add_months(anchor, steps)
    return _add_months(anchor, 12 * steps)  # YEAR: 29 Feb + 1 year = 28 Feb


def period_end(anchor: datetime, interval: Interval, interval_count: int, n: int) -> datetime:
    """End (exclusive) of period ``n`` = start of period ``n + 1``."""
    return period_start(anchor, interval, interval_count, n + 1)


def expiry_for(
    anchor: datetime,
    interval: Interval,
    interval_count: int,
    n: int,
    expire_after_intervals: int | None,
) -> datetime | None:
    """When the grant of period ``n`` expires: ``expire_after_intervals`` periods after it
    starts (a period is ``interval_count`` intervals), or None when not set.

    Computed from the anchor like any period start, so a 31 Jan schedule's February grant
    with one interval of validity expires on 31 Mar, not 28 Mar.
    """
    if expire_after_intervals is None:
        return None
    if isinstance(expire_after_intervals, bool) or expire_after_intervals < 1:
        raise ValueError("expire_after_intervals must be >= 1")
    return period_start(anchor, interval, interval_count, n + expire_after_intervals)


def periods_due(
    anchor: datetime,
    interval: Interval,
    interval_count: int,
    next_index: int,
    now: datetime,
    end_at: datetime | None = None,
    *,
    max_periods: int = MAX_PERIODS,
) -> list[int]:
    """Indices ``n >= next_index`` whose period has begun (start <= now) and, when
    ``end_at`` is set, starts before it; at most ``max_periods`` of them (the rest are
    picked up by the next run)."""
    due: list[int] = []
    n = next_index
    # Starts strictly increase with n, so the first start past now/end_at ends the scan.
    while len(due) < max_periods:
        try:
            start = period_start(anchor, interval, interval_count, n)
        except OverflowError:
            break
        if start > now or (end_at is not None and start >= end_at):
            break
        due.append(n)
        n += 1
    return due


@dataclass(frozen=True, slots=True)
class Period:
    index: int
    start: datetime  # the grant's effectiveAt
    expires_at: datetime | None  # the grant's expiresAt


@dataclass(frozen=True, slots=True)
class DuePlan:
    grant: list[Period]  # periods to grant now, oldest first
    skipped: list[int]  # begun periods whose grant would already have expired
    next_index: int  # first period not handled by this run
    next_grant_at: datetime | None  # its start; None when the schedule has no more periods


def plan_due(
    anchor: datetime,
    interval: Interval,
    interval_count: int,
    next_index: int,
    now: datetime,
    end_at: datetime | None = None,
    expire_after_intervals: int | None = None,
    *,
    max_periods: int = MAX_PERIODS,
) -> DuePlan:
    """What one scheduler run does for a schedule: the begun periods to grant (each with
    its own dates), the ones to skip because their grant would already be expired, and the
    new ``next_index`` / ``nextGrantAt`` to store (None = schedule finished)."""
    grant: list[Period] = []
    skipped: list[int] = []
    due = periods_due(
        anchor, interval, interval_count, next_index, now, end_at, max_periods=max_periods
    )
    for n in due:
        expires = expiry_for(anchor, interval, interval_count, n, expire_after_intervals)
        if expires is not None and expires <= now:
            skipped.append(n)
        else:
            grant.append(Period(n, period_start(anchor, interval, interval_count, n), expires))
    new_next = due[-1] + 1 if due else next_index  # due is contiguous from next_index
    try:
        nxt: datetime | None = period_start(anchor, interval, interval_count, new_next)
    except OverflowError:
        nxt = None
    if nxt is not None and end_at is not None and nxt >= end_at:
        nxt = None
    return DuePlan(grant, skipped, new_next, nxt)
