"""One Hypothesis state machine for real-time consumption, run on two repositories: the pure core
(in-memory fakes, tests/unit/test_consumption_machine.py) and DynamoDB Local
(tests/integration/test_consumption_machine_dynamodb_local.py).

Random sequences of grants (CASH with and without applicability, USAGE, future-effective,
expiring), consumptions (both modes, priced and not, money), applications, releases, voids,
adjustments, expiries and the passing of time. After every step: the v2 ledger invariant for
every grant, each balance aggregate equal to the sum over its grants (now and two days on), a
STRICT consumption either covered in full or writing nothing, and the balance alerts' crossings
exactly where the balance crossed their threshold. How the crossings are seen is the backend's:
the in-memory one hands the aggregate to the watch service after each step; the DynamoDB one reads
the table's stream and decides them with events/balance_crossings.py from each record's old and
new aggregate images, as the publisher does.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import hypothesis.strategies as st
from credits.domain import balance_aggregates as aggregates
from credits.domain.balances import balance_totals
from credits.domain.errors import InsufficientCredits, ServiceError
from credits.domain.grant_rules import expire_grant
from credits.models.alerts import CreateAlertRequest, CreateTopUpRuleRequest
from credits.models.api import ApplyRequest, CreateGrantRequest
from credits.models.consumptions import ConsumeRequest
from credits.services.applications import ApplicationService
from credits.services.consumptions import ConsumptionService
from credits.services.grants import GrantService
from credits.services.queries import QueryService
from credits.services.watches import WatchService
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from tests.fakes import ledger_invariant_violations

START = datetime(2026, 6, 1, tzinfo=UTC)
END_OF_TIME = datetime(2100, 1, 1, tzinfo=UTC)
CUSTOMER = "cus_1"
# The watches every example makes: (type, scope, alert threshold); and the USD top-up rule.
ALERTS = (("USAGE", "api_calls", Decimal(50)), ("CASH", "USD", Decimal(5)))
TOP_UP_THRESHOLD, TOP_UP_AMOUNT, TOP_UPS_PER_MONTH = Decimal(1), "3.00", 2
cents = st.integers(min_value=1, max_value=5_000).map(lambda c: str(Decimal(c) / 100))
units = st.integers(min_value=1, max_value=500).map(str)
fractional_units = st.integers(min_value=1, max_value=5_000_000).map(lambda u: str(Decimal(u) / 1_000_000))


def side(balance: Decimal, threshold: Decimal) -> str:
    return "LOW" if balance < threshold else "HIGH"


class ConsumptionMachine(RuleBasedStateMachine):
    """The rules and the invariants every backend shares. A backend gives the repository and the
    watch store (`make_repository`), and checks the alerts after each step (`check_alerts`)."""

    account = "acct_cm"

    def __init__(self) -> None:
        super().__init__()
        self.now = START
        self.repo, watch_store = self.make_repository()
        clock = lambda: self.now
        self.grants = GrantService(self.repo, attempts=3, clock=clock)
        self.apps = ApplicationService(self.repo, attempts=3, clock=clock, chunk_grants=2)
        self.consumptions = ConsumptionService(self.repo, attempts=3, clock=clock)
        self.queries = QueryService(self.repo, clock=clock)
        self.grant_ids: list[str] = []
        self.invoices: list[str] = []
        self.events = 0
        # Balance alerts on both balances, and a top-up rule on USD (at most 2 a month).
        self.watches = WatchService(self.repo, watch_store, clock=clock)
        for grant_type, scope, threshold in ALERTS:
            self.watches.create_alert(self.account, CreateAlertRequest(
                customerId=CUSTOMER, type=grant_type, threshold=str(threshold),
                **({"currency": scope} if grant_type == "CASH" else {"metricId": scope})))
        self.top_up_rule = self.watches.create_rule(self.account, CreateTopUpRuleRequest(
            customerId=CUSTOMER, type="CASH", currency="USD", threshold=str(TOP_UP_THRESHOLD),
            maxPerMonth=TOP_UPS_PER_MONTH,
            grant={"name": "top-up", "type": "CASH", "amount": TOP_UP_AMOUNT, "currency": "USD",
                   "category": "PROMOTIONAL"}))

    # ---------------------------------------------------------------- backend
    def make_repository(self):
        raise NotImplementedError

    def check_alerts(self) -> None:
        """The alerts (and top-ups) the writes since the last step made, against the balances."""
        raise NotImplementedError

    def check_top_ups(self, grants) -> None:
        """The top-up grants among `grants`, against the crossings seen."""

    # ---------------------------------------------------------------- what the repository holds
    def all_grants(self):
        return self.repo.customer_grants(self.account, CUSTOMER)

    def all_entries(self):
        return self.repo.ledger_between(self.account, None, END_OF_TIME, customer_id=CUSTOMER)

    def all_applications(self):
        return [a for a in (self.repo.get_application(self.account, i) for i in self.invoices) if a is not None]

    def _written(self):
        """What a write would change: every grant's version and balance, and the aggregates."""
        return (sorted((g.id, g.version, g.current_balance) for g in self.all_grants()),
                sorted((repr(k), sorted(b.items())) for k, b in self.repo.balance_aggregates(self.account, CUSTOMER)))

    def _later(self, days: int) -> str:
        return (self.now + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")

    # ---------------------------------------------------------------- rules
    @initialize(usage=st.integers(50, 80).map(str), cash=st.integers(500, 900).map(lambda c: str(Decimal(c) / 100)))
    def above_the_thresholds(self, usage, cash):
        """Both balances start at or above their alert's threshold, so that every sequence can
        cross down (and back up)."""
        for body in (CreateGrantRequest(customerId=CUSTOMER, name="start", type="USAGE", amount=usage,
                                        metricId="api_calls"),
                     CreateGrantRequest(customerId=CUSTOMER, name="start", type="CASH", amount=cash, currency="USD")):
            self.grant_ids.append(self.grants.create(self.account, body).id)

    @rule(amount=cents, priority=st.integers(0, 100), only_api=st.booleans(), expires=st.integers(0, 5),
          starts=st.integers(0, 3))
    def grant_cash(self, amount, priority, only_api, expires, starts):
        body = CreateGrantRequest(customerId=CUSTOMER, name="cash", type="CASH", amount=amount, currency="USD",
                                  priority=priority, applicability={"metricIds": ["api_calls"]} if only_api else None,
                                  effectiveAt=self._later(starts) if starts else None,
                                  expiresAt=self._later(starts + expires) if expires else None)
        self.grant_ids.append(self.grants.create(self.account, body).id)

    @rule(amount=units, expires=st.integers(0, 5), starts=st.integers(0, 3))
    def grant_usage(self, amount, expires, starts):
        body = CreateGrantRequest(customerId=CUSTOMER, name="units", type="USAGE", amount=amount, metricId="api_calls",
                                  effectiveAt=self._later(starts) if starts else None,
                                  expiresAt=self._later(starts + expires) if expires else None)
        self.grant_ids.append(self.grants.create(self.account, body).id)

    def _consume(self, request: ConsumeRequest):
        before = self._written() if request.mode == "STRICT" else None  # PARTIAL never refuses
        try:
            record, _, created = self.consumptions.consume(self.account, request)
        except InsufficientCredits:
            assert request.mode == "STRICT"
            assert self._written() == before  # nothing written
            assert self.repo.get_consumption(self.account, request.eventId) is None
            return None
        assert created
        if request.mode == "STRICT":
            assert not record.uncovered_units and not record.uncovered_value
        again, _, created_again = self.consumptions.consume(self.account, request)
        assert not created_again and again == record
        return record

    @rule(quantity=fractional_units, priced=st.booleans(), strict=st.booleans())
    def consume_usage(self, quantity, priced, strict):
        self.events += 1
        request = ConsumeRequest(eventId=f"e{self.events}", customerId=CUSTOMER, metricId="api_calls",
                                 quantity=quantity, mode="STRICT" if strict else "PARTIAL",
                                 **({"currency": "USD", "unitPrice": "0.01"} if priced else {}))
        units_before = self.consumptions.entitlement(self.account, CUSTOMER, "api_calls")[0]
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
        self.apps.apply(self.account, ApplyRequest(invoiceId=invoice, customerId=CUSTOMER, currency="USD", lines=[
            {"lineId": "usage", "metricId": "api_calls", "quantity": quantity, "unitPrice": "0.01"},
            {"lineId": "fee", "amount": amount}]))
        self.invoices.append(invoice)

    @precondition(lambda self: self.invoices)
    @rule(data=st.data())
    def release(self, data):
        assert self.apps.release(self.account, data.draw(st.sampled_from(self.invoices))).status == "RELEASED"

    @precondition(lambda self: self.grant_ids)
    @rule(data=st.data())
    def void(self, data):
        grant = self.repo.get_grant(self.account, data.draw(st.sampled_from(self.grant_ids)))
        if grant.status_at(self.now) != "EXPIRED":
            self.grants.void(self.account, grant.id, "test")

    @precondition(lambda self: self.grant_ids)
    @rule(data=st.data(), up=st.booleans(), share=st.integers(1, 150))
    def adjust(self, data, up, share):
        """An operator's correction: up by some, or down by a share of the balance (over 100%:
        more than it holds, which must be refused and write nothing)."""
        grant = self.repo.get_grant(self.account, data.draw(st.sampled_from(self.grant_ids)))
        step = Decimal("0.01") if grant.type == "CASH" else Decimal(1)
        amount = (grant.current_balance * share / 100).quantize(step) if not up else Decimal(share) * step
        before = self._written()
        try:
            entry = self.grants.adjust(self.account, grant.id, "INCREASE" if up else "DECREASE", str(amount), "test")
        except ServiceError:
            assert self._written() == before
            assert (amount <= 0 or grant.status_at(self.now) in ("VOIDED", "EXPIRED")
                    or (not up and amount > grant.current_balance))
            return
        assert entry.type == ("ADJUSTED_UP" if up else "ADJUSTED_DOWN")

    @rule(days=st.integers(1, 3))
    def time_passes(self, days):
        self.now += timedelta(days=days)

    @rule()
    def expiry_job(self):
        for grant in self.all_grants():
            if grant.status_at(self.now) == "EXPIRED" and grant.expired_at is None and grant.voided_at is None:
                expired, entries = expire_grant(grant, self.now)
                self.repo.save_grant(expired, grant.version, entries)

    # ---------------------------------------------------------------- invariants
    @invariant()
    def consistent(self):
        """One invariant, so that each step reads the grants once (a Query on DynamoDB Local)."""
        self.check_alerts()  # first: it may make top-up grants
        grants = self.all_grants()
        self.check_top_ups(grants)
        assert ledger_invariant_violations(grants, self.all_entries(), self.all_applications()) == []
        self.aggregates_equal_the_grants(grants)

    def aggregates_equal_the_grants(self, grants):
        found = self.repo.balance_aggregates(self.account, CUSTOMER)
        for at in (self.now, self.now + timedelta(days=2)):  # what time alone will change, too
            from_grants = balance_totals(grants, at, timedelta(days=30))
            from_aggregates = [aggregates.totals_at(k, b, at) for k, b in found]
            assert {(r.type, r.currency, r.metric_id, r.available, r.pending, r.expiring, r.grant_count)
                    for r in from_grants} == {(r.type, r.currency, r.metric_id, r.available, r.pending, r.expiring,
                                               r.grant_count) for r in from_aggregates if r.grant_count}
        units, cash, _ = self.consumptions.entitlement(self.account, CUSTOMER, "api_calls")
        usable = [g for g in grants if g.usable_at(self.now)]
        assert units == sum((g.current_balance for g in usable if g.type == "USAGE"), Decimal(0))
        paying = sum((g.current_balance for g in usable if g.type == "CASH"
                      and (g.applicable_metric_ids is None or "api_calls" in g.applicable_metric_ids)), Decimal(0))
        assert dict(cash).get("USD", Decimal(0)) == paying
        rows, _ = self.queries.balance(self.account, CUSTOMER, 30)
        assert [(r.type, r.available) for r in rows] == [(r.type, r.available)
                                                          for r in balance_totals(grants, self.now, timedelta(days=30))]


class InMemoryConsumptionMachine(ConsumptionMachine):
    """The pure core: after each step the watch service is handed each balance's aggregate as the
    stream of that item would deliver it, and the alerts it reports must be exactly the crossings
    of the balance since the last look; a top-up grant at most once per crossing below 1.00 and
    twice a month."""

    def make_repository(self):
        from tests.fakes import InMemoryRepository, InMemoryWatchStore

        repo = InMemoryRepository()
        self.seen = {(t, s): Decimal(0) for t, s, _ in ALERTS}  # last observed balances
        self.top_ups_by_month: dict[str, int] = {}
        self.version = 0
        return repo, InMemoryWatchStore(repo)

    def check_alerts(self) -> None:
        for grant_type, scope, threshold in ALERTS:
            self.version += 1
            buckets = self.repo.balance_aggregates_of(self.account, CUSTOMER, [(grant_type, scope)])[(grant_type, scope)]
            key = aggregates.BalanceKey(grant_type, scope if grant_type == "CASH" else None,
                                        scope if grant_type == "USAGE" else None)
            grants_before = len(self.repo.grants)
            crossed = self.watches.on_balance_change(self.account, CUSTOMER, key, buckets, self.version, self.now)
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
                    assert self.top_ups_by_month[month] <= TOP_UPS_PER_MONTH
                    assert expected == ["balance_low"] or before < Decimal(5)  # it crossed 1.00 on the way down
