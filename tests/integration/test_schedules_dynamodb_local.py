"""Recurring grants on DynamoDB Local: catch-up with each period's own dates, exactly one grant
per period under concurrent runs, cancel, listing, and the ledger invariant."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from credits import container
from credits.models.api import CreateScheduleRequest
from credits.services.schedules import ScheduleService
from credits.store.schedules_store import ScheduleStore

NOW = datetime(2026, 4, 15, 9, 30, tzinfo=UTC)  # injected clock
START = "2026-01-31T00:00:00Z"  # periods begun by NOW: 31 Jan, 28 Feb, 31 Mar (next: 30 Apr)
ACCOUNT = "acct_sched"


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.fixture
def service(table):
    container.reset()
    return ScheduleService(ScheduleStore(container.repository()), clock=lambda: NOW)


def create(service: ScheduleService, customer: str = "cus_1", **overrides):
    body = {"customerId": customer, "interval": "MONTH", "startAt": START, "expireAfterIntervals": 3,
            "grant": {"name": "Monthly allowance", "type": "CASH", "amount": "25.00", "currency": "USD",
                      "category": "PROMOTIONAL"}, **overrides}
    return service.create(ACCOUNT, CreateScheduleRequest.model_validate(body))


def schedule_grants(customer: str = "cus_1"):
    grants = [g for g in container.repository().customer_grants(ACCOUNT, customer) if g.schedule_id]
    return sorted(grants, key=lambda g: g.effective_at)


def assert_ledger_invariant(customer: str = "cus_1") -> None:
    repo = container.repository()
    signs = {"GRANTED": 1, "APPLIED": -1, "RELEASED": 1, "EXPIRED": -1, "VOIDED": -1}
    for grant in repo.customer_grants(ACCOUNT, customer):
        entries = repo.grant_ledger(ACCOUNT, customer, grant.id)
        assert [e.type for e in entries].count("GRANTED") == 1
        total = sum((signs.get(e.type, 0) * e.amount for e in entries), Decimal(0))
        assert total == grant.current_balance, grant.id


def test_one_run_catches_up_three_months_with_each_periods_dates(service):
    schedule = create(service)
    summary = service.run_due(NOW)
    assert summary.granted == 3 and summary.skipped == 0

    grants = schedule_grants()
    assert [g.effective_at for g in grants] == [utc(2026, 1, 31), utc(2026, 2, 28), utc(2026, 3, 31)]
    assert [g.expires_at for g in grants] == [utc(2026, 4, 30), utc(2026, 5, 31), utc(2026, 6, 30)]
    assert {g.schedule_id for g in grants} == {schedule.id}
    assert all(g.original_amount == Decimal("25.00") and g.category == "PROMOTIONAL" for g in grants)
    # Readable by id like any grant (the ref item was written in the same transaction).
    assert container.repository().get_grant(ACCOUNT, grants[0].id) == grants[0]

    stored = service.get(ACCOUNT, schedule.id)
    assert stored.next_index == 3 and stored.next_grant_at == utc(2026, 4, 30)
    assert service.run_due(NOW).granted == 0  # re-run: nothing more
    assert_ledger_invariant()


def test_two_concurrent_runs_make_no_more(service):
    create(service)
    create(service, customer="cus_2", interval="WEEK", startAt="2026-03-01T00:00:00Z", expireAfterIntervals=None)
    barrier = threading.Barrier(4)
    results, errors = [], []

    def run() -> None:
        try:
            own = ScheduleService(ScheduleStore(container.repository()), clock=lambda: NOW)
            barrier.wait()
            results.append(own.run_due(NOW))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors
    assert len(schedule_grants("cus_1")) == 3
    # Weekly from Sun 1 Mar: 1, 8, 15, 22, 29 Mar, 5 Apr, 12 Apr = 7 periods begun by 15 Apr 09:30.
    weekly = schedule_grants("cus_2")
    assert len(weekly) == 7 and len({g.effective_at for g in weekly}) == 7
    assert sum(r.granted for r in results) == 10
    assert_ledger_invariant("cus_1")
    assert_ledger_invariant("cus_2")


def test_cancel_stops_the_next_period(service):
    schedule = create(service)
    service.run_due(NOW)
    canceled = service.cancel(ACCOUNT, schedule.id)
    assert canceled.status == "CANCELED"
    assert list(ScheduleStore(container.repository()).due(utc(2027, 1, 1))) == []  # left the due index
    later = utc(2026, 6, 15)
    assert service.run_due(later).granted == 0
    assert len(schedule_grants()) == 3  # the grants made stay
    assert service.get(ACCOUNT, schedule.id).status == "CANCELED"
    assert service.cancel(ACCOUNT, schedule.id).status == "CANCELED"  # twice: unchanged


def test_due_index_and_skipped_periods(service):
    store = ScheduleStore(container.repository())
    future = create(service, startAt="2026-05-01T00:00:00Z")
    assert (ACCOUNT, future.id) not in list(store.due(NOW))
    assert (ACCOUNT, future.id) in list(store.due(utc(2026, 5, 1)))
    # A one-interval expiry: the grants of 31 Jan and 28 Feb would already be over -> skipped.
    short = create(service, customer="cus_3", expireAfterIntervals=1)
    summary = service.run_due(NOW)
    assert summary.skipped == 2
    assert [g.effective_at for g in schedule_grants("cus_3")] == [utc(2026, 3, 31)]
    assert service.get(ACCOUNT, short.id).next_index == 3


def test_list_filters_and_pages(service):
    ids = [create(service).id for _ in range(3)]
    create(service, customer="cus_other")
    seen, after = [], None
    while True:
        page = service.list(ACCOUNT, customer_id="cus_1", limit=2, after=after)
        assert page.total == 3
        seen += [s.id for s in page.items]
        after = page.after
        if after is None:
            break
    assert seen == sorted(ids, reverse=True)  # newest first, each once
    assert service.list(ACCOUNT).total == 4
    assert service.list("acct_other").items == []
