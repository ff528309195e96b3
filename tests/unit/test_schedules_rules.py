"""Recurring grants, pure side: request validation, each period's grant and its dates (31 Jan
monthly), deterministic grant ids, and exactly-once over any sequence of runs (hypothesis over
anchors, intervals, counts and run instants). The service's run loop is exercised against an
in-memory store that enforces the same conditions as the DynamoDB transaction."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from credits.api.views import schedule_view
from credits.domain.errors import ConcurrentUpdate, InvalidRequest
from credits.domain.periods import MAX_PERIODS, expiry_for, period_start
from credits.domain.schedule_rules import new_schedule, period_grant, period_grant_id, plan
from credits.models.api import CreateScheduleRequest
from credits.services.schedules import ScheduleService
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


CASH = {"name": "Monthly allowance", "type": "CASH", "amount": "10", "currency": "USD"}


def request(**overrides):
    body = {"customerId": "cus_1", "grant": dict(CASH), "interval": "MONTH", **overrides}
    return CreateScheduleRequest.model_validate(body)


# ---------------------------------------------------------------- request validation


def test_defaults():
    now = utc(2026, 5, 1, 12)
    schedule = new_schedule("acct", request(), now)
    assert schedule.interval_count == 1 and schedule.start_at == now and schedule.end_at is None
    assert schedule.expire_after_intervals is None and schedule.status == "ACTIVE"
    assert schedule.next_index == 0 and schedule.next_grant_at == now
    view = schedule_view(schedule).model_dump()
    assert view["id"].startswith("cgs_") and view["nextGrantAt"] == "2026-05-01T12:00:00Z"
    assert view["grant"]["amount"] == "10" and "customerId" not in view["grant"]


@pytest.mark.parametrize("field", ["effectiveAt", "effectiveDate", "expiresAt", "expiryDate", "customerId", "bogus"])
def test_template_refuses_dates_customer_and_unknown_fields(field):
    value = "2026-01-01" if field.endswith("Date") else "2026-01-01T00:00:00Z"
    with pytest.raises(ValidationError):
        request(grant={**CASH, field: value})


@pytest.mark.parametrize("overrides", [
    {"interval": "HOUR"}, {"intervalCount": 0}, {"intervalCount": "1"}, {"intervalCount": 1.5},
    {"expireAfterIntervals": 0}, {"startAt": "2026-01-01"}, {"endAt": 5}, {"extra": 1},
])
def test_structural_errors(overrides):
    with pytest.raises(ValidationError):
        request(**overrides)


def test_start_up_to_366_days_in_the_past():
    now = utc(2026, 6, 1)
    new_schedule("acct", request(startAt="2025-06-01T00:00:00Z"), now)  # 365 days
    with pytest.raises(InvalidRequest) as err:
        new_schedule("acct", request(startAt="2025-05-30T00:00:00Z"), now)
    assert err.value.field == "startAt"


def test_end_must_follow_start():
    with pytest.raises(InvalidRequest) as err:
        new_schedule("acct", request(startAt="2026-06-01T00:00:00Z", endAt="2026-06-01T00:00:00Z"), utc(2026, 6, 1))
    assert err.value.field == "endAt"


@pytest.mark.parametrize("grant, field", [
    ({**CASH, "currency": None}, "grant.currency"),
    ({**CASH, "currency": "XXX"}, "grant.currency"),
    ({**CASH, "amount": "10.001"}, "grant.amount"),
    ({"name": "API calls", "type": "USAGE", "amount": "1000"}, "grant.metricId"),
    ({**CASH, "category": "PROMOTIONAL", "costOfCredit": "5"}, "grant.costOfCredit"),
])
def test_bad_template_is_a_400_at_create(grant, field):
    grant = {k: v for k, v in grant.items() if v is not None}
    with pytest.raises(InvalidRequest) as err:
        new_schedule("acct", request(grant=grant), utc(2026, 6, 1))
    assert err.value.field == field and err.value.status == 400


# ---------------------------------------------------------------- each period's grant


def test_monthly_from_31_january_grants_with_each_periods_dates():
    schedule = new_schedule("acct", request(startAt="2028-01-31T00:00:00Z", expireAfterIntervals=3), utc(2028, 1, 31))
    due = plan(schedule, utc(2028, 3, 31))  # three periods begun, none over yet
    assert [p.index for p in due.grant] == [0, 1, 2] and due.skipped == []
    grants = [period_grant(schedule, p, utc(2028, 3, 31))[0] for p in due.grant]
    assert [g.effective_at for g in grants] == [utc(2028, 1, 31), utc(2028, 2, 29), utc(2028, 3, 31)]
    assert [g.expires_at for g in grants] == [utc(2028, 4, 30), utc(2028, 5, 31), utc(2028, 6, 30)]
    assert all(g.schedule_id == schedule.id and g.customer_id == "cus_1" for g in grants)
    assert due.next_index == 3 and due.next_grant_at == utc(2028, 4, 30)


def test_period_grant_carries_the_template_and_a_granted_entry():
    schedule = new_schedule("acct", request(grant={**CASH, "priority": 10, "metadata": {"plan": "pro"}}),
                            utc(2026, 1, 1))
    grant, entry = period_grant(schedule, plan(schedule, utc(2026, 1, 1)).grant[0], utc(2026, 1, 1))
    assert grant.priority == 10 and grant.metadata == {"plan": "pro"} and grant.expires_at is None
    assert entry.type == "GRANTED" and entry.grant_id == grant.id and entry.amount == grant.original_amount


def test_grant_ids_are_deterministic_per_schedule_and_period():
    start = utc(2026, 1, 31)
    a = period_grant_id("cgs_A", 3, start)
    assert a == period_grant_id("cgs_A", 3, start)
    assert a != period_grant_id("cgs_A", 4, start) and a != period_grant_id("cgs_B", 3, start)
    assert a.startswith("cg_") and len(a) == 29
    # Time-ordered like every other grant id: later periods sort later.
    assert period_grant_id("cgs_A", 0, start) < period_grant_id("cgs_A", 1, utc(2026, 2, 28))


def test_canceled_view_has_no_next_grant():
    schedule = new_schedule("acct", request(), utc(2026, 1, 1)).evolve(status="CANCELED", next_grant_at=None)
    assert schedule_view(schedule).nextGrantAt is None


# ---------------------------------------------------------------- exactly once over any runs

ANCHORS = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2090, 12, 31)).map(
    lambda d: d.replace(microsecond=0, tzinfo=UTC))


@settings(max_examples=150, deadline=None)
@given(
    anchor=ANCHORS,
    interval=st.sampled_from(["DAY", "WEEK", "MONTH", "YEAR"]),
    count=st.integers(1, 4),
    expire_after=st.none() | st.integers(1, 3),
    run_gaps=st.lists(st.integers(0, 24 * 400), min_size=1, max_size=6),  # hours between runs
)
def test_any_sequence_of_runs_handles_every_period_exactly_once(anchor, interval, count, expire_after, run_gaps):
    body = request(interval=interval, intervalCount=count, expireAfterIntervals=expire_after,
                   startAt=anchor.strftime("%Y-%m-%dT%H:%M:%SZ"))
    schedule = new_schedule("acct", body, anchor)
    seen: list[int] = []
    now = anchor
    for gap in run_gaps:
        now += timedelta(hours=gap)
        due = plan(schedule, now)
        for period in due.grant:
            assert period.start == period_start(anchor, interval, count, period.index) <= now
            assert period.expires_at == expiry_for(anchor, interval, count, period.index, expire_after)
            assert period.expires_at is None or period.expires_at > now  # never granted already over
        for index in due.skipped:
            assert expiry_for(anchor, interval, count, index, expire_after) <= now
        handled = sorted([p.index for p in due.grant] + due.skipped)
        seen += handled
        schedule = schedule.evolve(next_index=due.next_index, next_grant_at=due.next_grant_at)
        capped = len(handled) == MAX_PERIODS  # a bounded run: the rest is due on the next one
        assert capped or due.next_grant_at is None or due.next_grant_at > now
    # Every period once, in order, none twice; and, unless the last run was bounded, every
    # period begun by then.
    assert seen == list(range(len(seen)))
    if not capped:
        assert period_start(anchor, interval, count, len(seen)) > now


# ---------------------------------------------------------------- the run loop (in-memory store)


class MemoryStore:
    """Same conditions as the DynamoDB transaction: new grant id, schedule ACTIVE at the index read."""

    def __init__(self):
        self.schedules = {}
        self.grants = {}
        self.entries = []
        self.interfere = None  # called before each write, to simulate a concurrent run

    def put_new(self, schedule):
        self.schedules[schedule.id] = schedule

    def get(self, account_id, schedule_id):
        return self.schedules.get(schedule_id)

    def due(self, now):
        return [(s.account_id, s.id) for s in list(self.schedules.values())
                if s.status == "ACTIVE" and s.next_grant_at is not None and s.next_grant_at <= now]

    def _check(self, schedule, expected):
        if self.interfere:
            hook, self.interfere = self.interfere, None
            hook()
        current = self.schedules[schedule.id]
        if current.status != "ACTIVE" or current.next_index != expected:
            raise ConcurrentUpdate("schedule moved")

    def grant_period(self, schedule, expected, next_index, next_at, grant, entry, now):
        self._check(schedule, expected)
        if grant.id in self.grants:
            raise ConcurrentUpdate("grant exists")
        self.grants[grant.id] = grant
        self.entries.append(entry)
        self.advance_unchecked(schedule, next_index, next_at)

    def advance(self, schedule, expected, next_index, next_at, now):
        self._check(schedule, expected)
        self.advance_unchecked(schedule, next_index, next_at)

    def advance_unchecked(self, schedule, next_index, next_at):
        current = self.schedules[schedule.id]
        self.schedules[schedule.id] = current.evolve(next_index=next_index, next_grant_at=next_at)

    def cancel(self, canceled):
        if self.schedules[canceled.id].status != "ACTIVE":
            raise ConcurrentUpdate("canceled")
        self.schedules[canceled.id] = canceled


def test_run_due_catches_up_and_a_concurrent_run_makes_no_more():
    store = MemoryStore()
    now = utc(2026, 4, 30, 12)
    service = ScheduleService(store, clock=lambda: now)
    schedule = service.create("acct", request(startAt="2026-01-31T00:00:00Z", expireAfterIntervals=3))
    # Period 0 (31 Jan, expires 30 Apr 00:00) is over: skipped. 28 Feb, 31 Mar, 30 Apr are granted.
    # A second run slips in before the first run's first write and does everything.
    other = ScheduleService(store, clock=lambda: now)
    store.interfere = lambda: other.run_due(now)
    summary = service.run_due(now)
    assert summary.conflicts == 1
    assert sorted(g.effective_at for g in store.grants.values()) == [utc(2026, 2, 28), utc(2026, 3, 31),
                                                                     utc(2026, 4, 30)]
    assert len(store.entries) == 3
    assert store.schedules[schedule.id].next_index == 4
    assert store.schedules[schedule.id].next_grant_at == utc(2026, 5, 31)
    assert service.run_due(now).granted == 0  # nothing new


def test_cancel_stops_the_next_period():
    store = MemoryStore()
    clock = [utc(2026, 1, 1)]
    service = ScheduleService(store, clock=lambda: clock[0])
    schedule = service.create("acct", request(interval="WEEK"))
    assert service.run_due().granted == 1
    canceled = service.cancel("acct", schedule.id)
    assert canceled.status == "CANCELED" and schedule_view(canceled).nextGrantAt is None
    assert service.cancel("acct", schedule.id) == canceled  # twice: unchanged
    clock[0] = utc(2026, 2, 1)
    assert service.run_due().granted == 0 and len(store.grants) == 1


def test_schedule_finishes_at_end_at():
    store = MemoryStore()
    service = ScheduleService(store, clock=lambda: utc(2026, 1, 1))
    schedule = service.create("acct", request(interval="DAY", endAt="2026-01-03T00:00:00Z"))
    assert service.run_due(utc(2026, 1, 10)).granted == 2
    assert store.schedules[schedule.id].next_grant_at is None and store.due(utc(2030, 1, 1)) == []


def test_daily_schedule_366_days_back_catches_up_in_one_run():
    store = MemoryStore()
    now = utc(2026, 6, 1)
    service = ScheduleService(store, clock=lambda: now)
    service.create("acct", request(interval="DAY", startAt="2025-06-01T00:00:00Z"))
    assert service.run_due(now).granted == 366
    assert len({g.effective_at for g in store.grants.values()}) == 366


def test_rollover_max_amount_reads_in_the_unit_of_the_grants_it_makes():
    """A CASH template's rollover cap keeps its currency's digits, as amounts do ("3.00", not "3")."""
    from decimal import Decimal

    schedule = new_schedule("acct", request(rollover={"maxAmount": "3.00"}, expireAfterIntervals=1), utc(2026, 5, 1))
    stored = schedule.evolve(rollover_max=Decimal("3"))  # what DynamoDB gives back
    assert schedule_view(stored).rollover == {"maxAmount": "3.00"}
