"""Tests for recurring-grant period arithmetic."""

import calendar
from datetime import UTC, datetime, timedelta, timezone

import pytest
from credits.domain.periods import (
    INTERVALS,
    MAX_PERIODS,
    DuePlan,
    Period,
    expiry_for,
    period_end,
    period_start,
    periods_due,
    plan_due,
)
from hypothesis import assume, given, settings
from hypothesis import strategies as st


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


# --- period_start ----------------------------------------------------------------------


def test_period_zero_is_anchor():
    a = utc(2026, 1, 31, 13, 45, 7, 123)
    for interval in INTERVALS:
        assert period_start(a, interval, 1, 0) == a
        assert period_start(a, interval, 3, 0) == a


def test_monthly_from_31_jan_clamps_without_drift():
    a = utc(2026, 1, 31, 9, 30)
    starts = [period_start(a, "MONTH", 1, n) for n in range(13)]
    assert starts[:5] == [
        utc(2026, 1, 31, 9, 30),
        utc(2026, 2, 28, 9, 30),
        utc(2026, 3, 31, 9, 30),  # back to 31: computed from the anchor, not from 28 Feb
        utc(2026, 4, 30, 9, 30),
        utc(2026, 5, 31, 9, 30),
    ]
    assert starts[12] == utc(2027, 1, 31, 9, 30)


def test_monthly_leap_year_february():
    a = utc(2024, 1, 31)
    assert period_start(a, "MONTH", 1, 1) == utc(2024, 2, 29)
    assert period_start(a, "MONTH", 1, 2) == utc(2024, 3, 31)
    assert period_start(utc(2024, 1, 30), "MONTH", 1, 1) == utc(2024, 2, 29)
    assert period_start(utc(2023, 1, 29), "MONTH", 1, 1) == utc(2023, 2, 28)
    # 2100 is not a leap year, 2000 was.
    assert period_start(utc(2100, 1, 31), "MONTH", 1, 1) == utc(2100, 2, 28)
    assert period_start(utc(2000, 1, 31), "MONTH", 1, 1) == utc(2000, 2, 29)


def test_monthly_crosses_year_end():
    a = utc(2025, 11, 30)
    assert period_start(a, "MONTH", 1, 1) == utc(2025, 12, 30)
    assert period_start(a, "MONTH", 1, 2) == utc(2026, 1, 30)
    assert period_start(a, "MONTH", 1, 3) == utc(2026, 2, 28)
    assert period_start(a, "MONTH", 1, 14) == utc(2027, 1, 30)


def test_monthly_interval_count_3():
    a = utc(2026, 11, 30, 23, 59, 59)
    assert [period_start(a, "MONTH", 3, n) for n in range(5)] == [
        utc(2026, 11, 30, 23, 59, 59),
        utc(2027, 2, 28, 23, 59, 59),
        utc(2027, 5, 30, 23, 59, 59),
        utc(2027, 8, 30, 23, 59, 59),
        utc(2027, 11, 30, 23, 59, 59),
    ]


def test_yearly_from_29_feb():
    a = utc(2024, 2, 29, 12)
    assert period_start(a, "YEAR", 1, 1) == utc(2025, 2, 28, 12)
    assert period_start(a, "YEAR", 1, 3) == utc(2027, 2, 28, 12)
    assert period_start(a, "YEAR", 1, 4) == utc(2028, 2, 29, 12)
    assert period_start(a, "YEAR", 4, 1) == utc(2028, 2, 29, 12)
    assert period_start(a, "YEAR", 3, 2) == utc(2030, 2, 28, 12)


def test_weekly_and_daily():
    a = utc(2026, 12, 28, 6)
    assert period_start(a, "WEEK", 1, 1) == utc(2027, 1, 4, 6)
    assert period_start(a, "WEEK", 2, 3) == utc(2027, 2, 8, 6)
    assert period_start(a, "DAY", 1, 4) == utc(2027, 1, 1, 6)
    assert period_start(a, "DAY", 3, 2) == utc(2027, 1, 3, 6)
    # UTC has no DST: a day is always 24 h.
    assert period_start(utc(2026, 3, 7), "DAY", 1, 2) - utc(2026, 3, 7) == timedelta(hours=48)


def test_period_end_is_next_start():
    a = utc(2026, 1, 31)
    assert period_end(a, "MONTH", 1, 0) == utc(2026, 2, 28)
    assert period_end(a, "MONTH", 1, 1) == utc(2026, 3, 31)


def test_non_utc_anchor_is_normalised_to_utc():
    # 31 Jan 23:00 at -05:00 is 1 Feb 04:00 UTC: months are counted on the UTC calendar.
    a = datetime(2026, 1, 31, 23, tzinfo=timezone(timedelta(hours=-5)))
    assert period_start(a, "MONTH", 1, 1) == utc(2026, 3, 1, 4)
    assert period_start(a, "MONTH", 1, 1).tzinfo == UTC


@pytest.mark.parametrize(
    "args",
    [
        (datetime(2026, 1, 1), "MONTH", 1, 0),  # naive
        (utc(2026, 1, 1), "QUARTER", 1, 0),
        (utc(2026, 1, 1), "MONTH", 0, 0),
        (utc(2026, 1, 1), "MONTH", -1, 0),
        (utc(2026, 1, 1), "MONTH", True, 0),
        (utc(2026, 1, 1), "MONTH", 1, -1),
        (utc(2026, 1, 1), "MONTH", 1.0, 0),
    ],
)
def test_bad_arguments(args):
    with pytest.raises(ValueError):
        period_start(*args)


def test_overflow_raises_overflow_error():
    with pytest.raises(OverflowError):
        period_start(utc(9999, 6, 1), "MONTH", 1, 12)
    with pytest.raises(OverflowError):
        period_start(utc(9999, 12, 1), "DAY", 1, 100)


# --- expiry_for ------------------------------------------------------------------------


def test_expiry_for():
    a = utc(2026, 1, 31)
    assert expiry_for(a, "MONTH", 1, 0, None) is None
    assert expiry_for(a, "MONTH", 1, 0, 1) == utc(2026, 2, 28)
    assert expiry_for(a, "MONTH", 1, 1, 1) == utc(2026, 3, 31)  # not 28 Mar
    assert expiry_for(a, "MONTH", 3, 0, 2) == utc(2026, 7, 31)  # periods, i.e. 2 x 3 months
    assert expiry_for(a, "DAY", 1, 5, 7) == utc(2026, 2, 12)
    with pytest.raises(ValueError):
        expiry_for(a, "MONTH", 1, 0, 0)


# --- periods_due -----------------------------------------------------------------------


def test_periods_due_basic():
    a = utc(2026, 1, 31)
    assert periods_due(a, "MONTH", 1, 0, utc(2026, 1, 30)) == []
    assert periods_due(a, "MONTH", 1, 0, a) == [0]  # start <= now: due at its instant
    assert periods_due(a, "MONTH", 1, 0, utc(2026, 4, 29)) == [0, 1, 2]
    assert periods_due(a, "MONTH", 1, 0, utc(2026, 4, 30)) == [0, 1, 2, 3]
    assert periods_due(a, "MONTH", 1, 2, utc(2026, 4, 30)) == [2, 3]
    assert periods_due(a, "MONTH", 1, 4, utc(2026, 4, 30)) == []


def test_periods_due_end_at_is_exclusive():
    a = utc(2026, 1, 1)
    now = utc(2026, 12, 31)
    assert periods_due(a, "MONTH", 1, 0, now, end_at=utc(2026, 4, 1)) == [0, 1, 2]
    assert periods_due(a, "MONTH", 1, 0, now, end_at=utc(2026, 4, 1, 0, 0, 1)) == [0, 1, 2, 3]
    assert periods_due(a, "MONTH", 1, 0, now, end_at=a) == []


def test_periods_due_catch_up_366_days_of_daily_fits_one_run():
    now = utc(2026, 11, 25, 12)
    a = now - timedelta(days=366)
    assert periods_due(a, "DAY", 1, 0, now) == list(range(367))


def test_periods_due_is_bounded():
    a = utc(1990, 1, 1)
    now = utc(2026, 1, 1)
    assert len(periods_due(a, "DAY", 1, 0, now)) == MAX_PERIODS
    assert periods_due(a, "DAY", 1, 0, now, max_periods=5) == [0, 1, 2, 3, 4]
    assert periods_due(a, "DAY", 1, 10, now, max_periods=2) == [10, 11]
    assert periods_due(a, "DAY", 1, 0, now, max_periods=0) == []


def test_periods_due_stops_at_year_9999():
    a = utc(9999, 12, 1)
    assert periods_due(a, "MONTH", 1, 0, utc(9999, 12, 31)) == [0]


# --- plan_due --------------------------------------------------------------------------


def test_plan_due_grants_and_advances():
    a = utc(2026, 1, 31)
    plan = plan_due(a, "MONTH", 1, 0, utc(2026, 3, 1))
    assert plan == DuePlan(
        grant=[Period(0, utc(2026, 1, 31), None), Period(1, utc(2026, 2, 28), None)],
        skipped=[],
        next_index=2,
        next_grant_at=utc(2026, 3, 31),
    )


def test_plan_due_nothing_due_keeps_next():
    a = utc(2026, 1, 31)
    plan = plan_due(a, "MONTH", 1, 2, utc(2026, 3, 1))
    assert plan == DuePlan([], [], 2, utc(2026, 3, 31))


def test_plan_due_skips_already_expired_periods():
    a = utc(2026, 1, 1)
    now = utc(2026, 1, 10, 12)
    plan = plan_due(a, "DAY", 1, 0, now, expire_after_intervals=2)
    # Period 8 (9 Jan) expires 11 Jan > now; period 7 expired at 10 Jan 00:00 <= now.
    assert plan.skipped == list(range(8))
    assert [(p.index, p.start, p.expires_at) for p in plan.grant] == [
        (8, utc(2026, 1, 9), utc(2026, 1, 11)),
        (9, utc(2026, 1, 10), utc(2026, 1, 12)),
    ]
    assert plan.next_index == 10
    assert plan.next_grant_at == utc(2026, 1, 11)


def test_plan_due_finishes_at_end_at():
    a = utc(2026, 1, 1)
    plan = plan_due(a, "MONTH", 1, 0, utc(2027, 1, 1), end_at=utc(2026, 3, 1))
    assert [p.index for p in plan.grant] == [0, 1]
    assert plan.next_index == 2
    assert plan.next_grant_at is None


def test_plan_due_bounded_run_resumes():
    a = utc(2025, 1, 1)
    now = utc(2026, 1, 1)
    first = plan_due(a, "DAY", 1, 0, now, max_periods=300)
    assert first.next_index == 300
    assert first.next_grant_at == period_start(a, "DAY", 1, 300) <= now
    second = plan_due(a, "DAY", 1, first.next_index, now, max_periods=300)
    assert [p.index for p in second.grant] == list(range(300, 366))
    assert second.next_grant_at == utc(2026, 1, 2)


# --- properties ------------------------------------------------------------------------

anchors = st.datetimes(
    min_value=datetime(1990, 1, 1), max_value=datetime(2100, 12, 31, 23, 59, 59)
).map(lambda d: d.replace(tzinfo=UTC))
intervals = st.sampled_from(INTERVALS)
counts = st.integers(1, 12)
indices = st.integers(0, 600)


@given(anchors, intervals, counts, indices)
@settings(max_examples=500)
def test_strictly_increasing(anchor, interval, count, n):
    assert period_start(anchor, interval, count, n) < period_start(anchor, interval, count, n + 1)


@given(anchors, st.integers(1, 3), indices)
@settings(max_examples=500)
def test_month_day_is_clamped_anchor_day_and_time_kept(anchor, count, n):
    s = period_start(anchor, "MONTH", count, n)
    assert s.day == min(anchor.day, calendar.monthrange(s.year, s.month)[1])
    assert (s.year * 12 + s.month) - (anchor.year * 12 + anchor.month) == n * count
    assert s.timetz() == anchor.timetz()


@given(anchors, indices)
@settings(max_examples=300)
def test_year_keeps_month_and_clamped_day(anchor, n):
    s = period_start(anchor, "YEAR", 1, n)
    assert (s.year, s.month) == (anchor.year + n, anchor.month)
    assert s.day == min(anchor.day, calendar.monthrange(s.year, s.month)[1])
    assert s.timetz() == anchor.timetz()


@given(anchors, intervals, counts, indices, st.integers(0, 600))
@settings(max_examples=500)
def test_no_drift_composition(anchor, interval, count, n, m):
    # Period n+m of the anchor equals period m of a schedule anchored at period n whenever
    # period n kept the anchor's day; with a clamped day the anchor wins (no drift).
    assume(interval != "YEAR" or anchor.year + count * (n + m) <= 9999)
    direct = period_start(anchor, interval, count, n + m)
    if interval in ("DAY", "WEEK"):
        unit = timedelta(days=1 if interval == "DAY" else 7)
        assert direct == anchor + unit * count * (n + m)
    else:
        mid = period_start(anchor, interval, count, n)
        via = period_start(mid, interval, count, m)
        if mid.day == anchor.day:
            assert via == direct
        else:
            assert via.day <= direct.day  # chaining from a clamped start would drift down


@given(anchors, st.sampled_from(["MONTH", "YEAR"]), counts, indices)
@settings(max_examples=300)
def test_depends_only_on_total_steps(anchor, interval, count, n):
    # Computed in one step from the anchor: n periods of `count` = n*count periods of 1.
    assert period_start(anchor, interval, count, n) == period_start(anchor, interval, 1, n * count)


@given(anchors, intervals, counts, st.integers(0, 50), st.integers(0, 800))
@settings(max_examples=300)
def test_periods_due_matches_definition(anchor, interval, count, next_index, days_later):
    now = anchor + timedelta(days=days_later)
    due = periods_due(anchor, interval, count, next_index, now)
    assert due == list(range(next_index, next_index + len(due)))
    for n in due:
        assert period_start(anchor, interval, count, n) <= now
    if len(due) < MAX_PERIODS:
        assert period_start(anchor, interval, count, next_index + len(due)) > now
