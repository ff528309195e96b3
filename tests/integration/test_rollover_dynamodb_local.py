"""Rollover on DynamoDB Local (issue 15): a monthly allowance of 10,000 units with maxAmount
5,000 and 7,000 unused at the period's end -> 5,000 rolled over, 2,000 expired; the new
period's grant plus the rollover grant; burn-down takes the rollover first; two sweeps at once
roll it over once."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from credits import container
from credits.domain.ledger_rules import ledger_balance
from credits.domain.report_rules import build_report
from credits.models.api import ApplyRequest, CreateScheduleRequest
from credits.services.applications import ApplicationService
from credits.services.expiry import ExpiryService
from credits.services.schedules import ScheduleService
from credits.store.schedules_store import ScheduleStore
from credits.store.sweeps import DynamoSweepStore

ACCOUNT = "acct_roll"
START = datetime(2026, 1, 1, tzinfo=UTC)
PERIOD_END = datetime(2026, 2, 1, tzinfo=UTC)


def _apply(now: datetime, invoice: str, units: str) -> None:
    apps = ApplicationService(container.repository(), clock=lambda: now)
    apps.apply(ACCOUNT, ApplyRequest.model_validate({
        "invoiceId": invoice, "customerId": "cus_r", "currency": "USD", "settle": True,
        "lines": [{"lineId": "calls", "metricId": "api_calls", "quantity": units, "unitPrice": "0.001"}]}))


def test_rollover_moves_up_to_max_once_under_concurrent_sweeps_and_burns_first(table):
    container.reset()
    repo = container.repository()
    schedules = ScheduleService(ScheduleStore(repo), clock=lambda: START)
    schedule = schedules.create(ACCOUNT, CreateScheduleRequest.model_validate({
        "customerId": "cus_r", "interval": "MONTH", "startAt": "2026-01-01T00:00:00Z", "expireAfterIntervals": 1,
        "rollover": {"maxAmount": "5000"},
        "grant": {"name": "Monthly allowance", "type": "USAGE", "amount": "10000", "metricId": "api_calls"}}))
    assert schedules.run_due(START).granted == 1
    _apply(START + timedelta(days=3), "inv_jan", "3000")  # 7,000 left unused

    # The period ends: two sweeps at once (and the schedule's next period, in the same run order
    # as ExpiryFunction: expiry first, then recurring grants).
    later = PERIOD_END + timedelta(minutes=5)
    sweeps = [ExpiryService(DynamoSweepStore(repo), lead=timedelta(days=7), clock=lambda: later, reserve_ms=0)
              for _ in range(2)]
    barrier = threading.Barrier(2)
    results = []

    def run(service: ExpiryService) -> None:
        barrier.wait()
        results.append(service.run())

    threads = [threading.Thread(target=run, args=(s,)) for s in sweeps]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(r.expired for r in results) == 1
    assert schedules.run_due(later).granted == 1

    grants = {g.id: g for g in repo.customer_grants(ACCOUNT, "cus_r")}
    old = next(g for g in grants.values() if g.effective_at == START)
    rollovers = [g for g in grants.values() if g.rolled_over_from is not None]
    assert len(rollovers) == 1
    rollover = rollovers[0]
    assert rollover.rolled_over_from == old.id and rollover.original_amount == Decimal("5000")
    assert rollover.name == "Rollover: Monthly allowance" and rollover.type == "USAGE"
    assert rollover.metric_id == "api_calls" and rollover.priority == old.priority
    assert rollover.effective_at == PERIOD_END and rollover.expires_at == datetime(2026, 3, 1, tzinfo=UTC)
    assert rollover.rollover_max is None  # a rollover grant does not roll over again
    new_period = next(g for g in grants.values() if g.effective_at == PERIOD_END and g.rolled_over_from is None)
    assert new_period.original_amount == Decimal("10000") and new_period.schedule_id == schedule.id

    old_entries = repo.grant_ledger(ACCOUNT, "cus_r", old.id)
    assert [(e.type, e.amount) for e in old_entries if e.type in ("ROLLED_OVER", "EXPIRED")] == [
        ("ROLLED_OVER", Decimal("5000")), ("EXPIRED", Decimal("2000"))]
    for grant in grants.values():  # the v2 invariant, per grant
        assert ledger_balance(repo.grant_ledger(ACCOUNT, "cus_r", grant.id)) == grant.current_balance, grant.id

    # Burn-down takes the rollover first: it expires no later and was made at the period boundary.
    _apply(later + timedelta(days=1), "inv_feb", "6000")
    after = {g.id: g for g in repo.customer_grants(ACCOUNT, "cus_r")}
    assert after[rollover.id].current_balance == Decimal("0")
    assert after[new_period.id].current_balance == Decimal("9000")

    # Report rows still add up, with the rolled-over column.
    # (The injected clock lies before the entries' ids, so read them per grant, not by id range.)
    entries = [e for g in after for e in repo.grant_ledger(ACCOUNT, "cus_r", g)]
    (row,) = build_report(entries, START, later + timedelta(days=2))
    assert (row.rolledOver, row.expired, row.granted) == ("5000", "2000", "25000")
    total = (Decimal(row.granted) + Decimal(row.adjusted) - Decimal(row.applied) - Decimal(row.consumed)
             + Decimal(row.released) - Decimal(row.expired) - Decimal(row.voided) - Decimal(row.rolledOver))
    assert total == Decimal(row.outstanding) == Decimal("9000")
