"""Random sequences of grants (CASH with and without applicability, USAGE, future-effective,
expiring), consumptions (both modes, priced and not, money), applications, releases, voids,
expiries and the passing of time on the pure core (in-memory repository): the v2 ledger
invariant for every grant, each balance aggregate equal to the sum over its grants at every
instant, and a STRICT consumption either covered in full or writing nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import hypothesis.strategies as st
from credits.domain import balance_aggregates as aggregates
from credits.domain.balances import balance_totals
from credits.domain.errors import InsufficientCredits
from credits.domain.grant_rules import expire_grant
from credits.models.alerts import CreateAlertRequest, CreateTopUpRuleRequest
from credits.models.api import ApplyRequest, CreateGrantRequest
from credits.models.consumptions import ConsumeRequest
from credits.services.applications import ApplicationService
from credits.services.consumptions import ConsumptionService
from credits.services.grants import GrantService
from credits.services.queries import QueryService
from credits.services.watches import WatchService
from hypothesis import settings
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from tests.fakes import InMemoryRepository, InMemoryWatchStore, ledger_invariant_violations

START = datetime(2026, 6, 1, tzinfo=UTC)
ACCOUNT = "acct_cm"
CUSTOMER = "cus_1"
cents = st.integers(min_value=1, max_value=5_000).map(lambda c: str(Decimal(c) / 100))
units = st.integers(min_value=1, max_value=500).map(str)
fractional_units = st.integers(min_value=1, max_value=5_000_000).map(lambda u: str(Decimal(u) / 1_000_000))


class ConsumptionMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.now = START
        self.repo = InMemoryRepository()
        clock = lambda: self.now
        self.grants = GrantService(self.repo, attempts=3, clock=clock)
        self.apps = ApplicationService(self.repo, attempts=3, clock=clock, chunk_grants=2)
        self.consumptions = ConsumptionService(self.repo, attempts=3, clock=clock)
        self.queries = QueryService(self.repo, clock=clock)
        self.grant_ids: list[str] = []
        self.invoices: list[str] = []
        self.events = 0
        # Balance alerts on both balances, and a top-up rule on USD (at most 2 a month).
        self.watches = WatchService(self.repo, InMemoryWatchStore(self.repo), clock=clock)
        self.watches.create_alert(ACCOUNT, CreateAlertRequest(customerId=CUSTOMER, type="USAGE", metricId="api_calls",
                                                              threshold="50"))
        self.watches.create_alert(ACCOUNT, CreateAlertRequest(customerId=CUSTOMER, type="CASH", currency="USD",
                                                              threshold="5.00"))
        self.watches.create_rule(ACCOUNT, CreateTopUpRuleRequest(
            customerId=CUSTOMER, type="CASH", currency="USD", threshold="1.00", maxPerMonth=2,
            grant={"name": "top-up", "type": "CASH", "amount": "3.00", "currency": "USD", "category": "PROMOTIONAL"}))
        self.seen = {("USAGE", "api_calls"): Decimal(0), ("CASH", "USD"): Decimal(0)}  # last observed balances
        self.top_ups_by_month: dict[str, int] = {}
        self.version = 0

    def _later(self, days: int) -> str:
        return (self.now + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")

    @rule(amount=cents, priority=st.integers(0, 100), only_api=st.booleans(), expires=st.integers(0, 5),
          starts=st.integers(0, 3))
    def grant_cash(self, amount, priority, only_api, expires, starts):
        body = CreateGrantRequest(customerId=CUSTOMER, name="cash", type="CASH", amount=amount, currency="USD",
                                  priority=priority, applicability={"metricIds": ["api_calls"]} if only_api else None,
                                  effectiveAt=self._later(starts) if starts else None,
                                  expiresAt=self._later(starts + expires) if expires else None)
        self.grant_ids.append(self.grants.create(ACCOUNT, body).id)

    @rule(amount=units, expires=st.integers(0, 5), starts=st.integers(0, 3))
    def grant_usage(self, amount, expires, starts):
        body = CreateGrantRequest(customerId=CUSTOMER, name="units", type="USAGE", amount=amount, metricId="api_calls",
                                  effectiveAt=self._later(starts) if starts else None,
                                  expiresAt=self._later(starts + expires) if expires else None)
        self.grant_ids.append(self.grants.create(ACCOUNT, body).id)

    def _consume(self, request: ConsumeRequest, balance_before: Decimal | None = None):
        before = list(self.repo.entries)
        try:
            record, _, created = self.consumptions.consume(ACCOUNT, request)
        except InsufficientCredits:
            assert request.mode == "STRICT"
            assert self.repo.entries == before  # nothing written
            assert self.repo.get_consumption(ACCOUNT, request.eventId) is None
            return None
        assert created
        if request.mode == "STRICT":
            assert not record.uncovered_units and not record.uncovered_value
        again, _, created_again = self.consumptions.consume(ACCOUNT, request)
        assert not created_again and again == record
        return record

    @rule(quantity=fractional_units, priced=st.booleans(), strict=st.booleans())
    def consume_usage(self, quantity, priced, strict):
        self.events += 1
        request = ConsumeRequest(eventId=f"e{self.events}", customerId=CUSTOMER, metricId="api_calls",
                                 quantity=quantity, mode="STRICT" if strict else "PARTIAL",
                                 **({"currency": "USD", "unitPrice": "0.01"} if priced else {}))
        units_before = self.consumptions.entitlement(ACCOUNT, CUSTOMER, "api_calls")[0]
        record = self._consume(request)
        if record is not None and not priced:
            assert record.covered_units == min(Decimal(quantity), units_before)

    @rule(amount=cents, strict=st.booleans(), metric=st.sampled_from([None, "api_calls", "storage"]))
    def consume_money(self, amount, strict, metric):
        self.events += 1
        self._consume(ConsumeRequest(eventId=f"e{self.events}", customerId=CUSTOMER, currency="USD", amount=amount,
                                     metricId=metric, mode="STRICT" if strict else "PARTIAL"))

    @rule(amount=cents, quantity=units)
    def apply(self, amount, quantity):
        invoice = f"inv_{len(self.invoices)}"
        self.apps.apply(ACCOUNT, ApplyRequest(invoiceId=invoice, customerId=CUSTOMER, currency="USD", lines=[
            {"lineId": "usage", "metricId": "api_calls", "quantity": quantity, "unitPrice": "0.01"},
            {"lineId": "fee", "amount": amount}]))
        self.invoices.append(invoice)

    @precondition(lambda self: self.invoices)
    @rule(data=st.data())
    def release(self, data):
        assert self.apps.release(ACCOUNT, data.draw(st.sampled_from(self.invoices))).status == "RELEASED"

    @precondition(lambda self: self.grant_ids)
    @rule(data=st.data())
    def void(self, data):
        grant = self.repo.get_grant(ACCOUNT, data.draw(st.sampled_from(self.grant_ids)))
        if grant.status_at(self.now) != "EXPIRED":
            self.grants.void(ACCOUNT, grant.id, "test")

    @rule(days=st.integers(1, 3))
    def time_passes(self, days):
        self.now += timedelta(days=days)

    @rule()
    def expiry_job(self):
        for grant in list(self.repo.grants.values()):
            if grant.status_at(self.now) == "EXPIRED" and grant.expired_at is None and grant.voided_at is None:
                expired, entries = expire_grant(grant, self.now)
                self.repo.save_grant(expired, grant.version, entries)

    @invariant()
    def alerts_fire_exactly_where_the_balance_crossed(self):
        """What the stream of each balance aggregate would deliver after this step: an alert
        event exactly when the balance went across its threshold since the last look, and a
        top-up grant at most once per crossing below 1.00 and twice a month."""
        for grant_type, scope, threshold in (("USAGE", "api_calls", Decimal(50)), ("CASH", "USD", Decimal(5))):
            self.version += 1
            buckets = self.repo.balance_aggregates_of(ACCOUNT, CUSTOMER, [(grant_type, scope)])[(grant_type, scope)]
            key = aggregates.BalanceKey(grant_type, scope if grant_type == "CASH" else None,
                                        scope if grant_type == "USAGE" else None)
            grants_before = len(self.repo.grants)
            crossed = self.watches.on_balance_change(ACCOUNT, CUSTOMER, key, buckets, self.version, self.now)
            now_available = aggregates.available_at(buckets, self.now)
            before = self.seen[(grant_type, scope)]
            expected = []
            if before >= threshold > now_available:
                expected = ["balance_low"]
            elif before < threshold <= now_available:
                expected = ["balance_recovered"]
            assert [direction for _, direction, _ in crossed] == expected
            self.seen[(grant_type, scope)] = now_available
            if grant_type == "CASH":
                made = len(self.repo.grants) - grants_before
                assert made in (0, 1)
                if made:
                    month = f"{self.now:%Y-%m}"
                    self.top_ups_by_month[month] = self.top_ups_by_month.get(month, 0) + 1
                    assert self.top_ups_by_month[month] <= 2
                    assert expected == ["balance_low"] or before < Decimal(5)  # it crossed 1.00 on the way down

    @invariant()
    def ledger_invariant(self):
        assert ledger_invariant_violations(list(self.repo.grants.values()), self.repo.entries,
                                           list(self.repo.applications.values())) == []

    @invariant()
    def aggregates_equal_the_grants(self):
        grants = list(self.repo.grants.values())
        for at in (self.now, self.now + timedelta(days=2)):  # what time alone will change, too
            from_grants = balance_totals(grants, at, timedelta(days=30))
            from_aggregates = [aggregates.totals_at(k, b, at) for k, b in self.repo.balance_aggregates(ACCOUNT, CUSTOMER)]
            assert {(r.type, r.currency, r.metric_id, r.available, r.pending, r.expiring, r.grant_count)
                    for r in from_grants} == {(r.type, r.currency, r.metric_id, r.available, r.pending, r.expiring,
                                               r.grant_count) for r in from_aggregates if r.grant_count}
        units, cash, _ = self.consumptions.entitlement(ACCOUNT, CUSTOMER, "api_calls")
        usable = [g for g in grants if g.usable_at(self.now)]
        assert units == sum((g.current_balance for g in usable if g.type == "USAGE"), Decimal(0))
        paying = sum((g.current_balance for g in usable if g.type == "CASH"
                      and (g.applicable_metric_ids is None or "api_calls" in g.applicable_metric_ids)), Decimal(0))
        assert dict(cash).get("USD", Decimal(0)) == paying
        rows, _ = self.queries.balance(ACCOUNT, CUSTOMER, 30)
        assert [(r.type, r.available) for r in rows] == [(r.type, r.available)
                                                          for r in balance_totals(grants, self.now, timedelta(days=30))]


ConsumptionMachine.TestCase.settings = settings(max_examples=150, stateful_step_count=30, deadline=None)
TestConsumptionMachine = ConsumptionMachine.TestCase
