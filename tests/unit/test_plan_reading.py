"""Apply reads a customer's grants in burn-down order only as far as it needs (LSI1): the
result must equal the burn-down over every grant, and reading must stop early."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal as D

from credits.api.views import application_view
from credits.domain.application_rules import plan
from credits.domain.burndown import BurnLine
from credits.domain.records import GrantRecord
from credits.services import balances as balance_reading
from credits.services.balances import BalanceReader, invoice_balances, plan_reading
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.fakes import InMemoryRepository
from tests.unit.test_burndown import day, scenarios

NOW = day(0)


def record(g) -> GrantRecord:
    return GrantRecord(id=g.id, account_id="a", customer_id="c", name="g", type=g.type, currency=g.currency,
                       metric_id=g.metric_id, original_amount=g.balance, current_balance=g.balance,
                       pending_amount=D(0), cost_of_credit=D(0), price_per_unit=None, category=g.category,
                       priority=g.priority, tax_rate_id=None, effective_at=g.effective_at, expires_at=g.expires_at,
                       reason=None, metadata={}, applicable_metric_ids=g.applicable_metric_ids,
                       invoice_requested=False, schedule_id=None, created_at=g.created_at, updated_at=g.created_at)


class CountingRepository(InMemoryRepository):
    def __init__(self) -> None:
        super().__init__()
        self.pulled = 0

    def burn_candidates(self, *args):
        for grant in super().burn_candidates(*args):
            self.pulled += 1
            yield grant


def repo_with(grants) -> CountingRepository:
    repo = CountingRepository()
    for g in grants:
        repo.grants[("a", g.id)] = g
    return repo


@settings(max_examples=300, deadline=None)
@given(scenarios(), st.integers(min_value=1, max_value=3))
def test_reading_in_pages_gives_the_burn_down_over_everything(scenario, page):
    currency, lines, burn_grants = scenario
    grants = [record(g) for g in burn_grants]
    # Some grants expired or not yet effective: in the index, never usable.
    grants = [g.evolve(expires_at=NOW - timedelta(hours=1)) if i % 5 == 4 else g for i, g in enumerate(grants)]
    repo = repo_with(grants)
    original = balance_reading.BURN_PAGE
    balance_reading.BURN_PAGE = page
    try:
        balances = invoice_balances(repo, "a", "c", lines, currency)
        assert plan_reading(lines, balances, currency, NOW) == plan(lines, grants, currency, NOW)
        # Depletion read lazily agrees with the sum over every grant of the balance.
        for balance in balances:
            available = sum((g.current_balance for g in grants if g.usable_at(NOW)
                             and (g.type, g.currency if g.type == "CASH" else None,
                                  g.metric_id if g.type == "USAGE" else None) == balance.key), D(0))
            assert balance.depleted(NOW, {}) == (available == 0)
    finally:
        balance_reading.BURN_PAGE = original


def test_an_invoice_covered_by_the_first_grant_reads_one_page_of_many():
    from tests.unit.test_burndown import cash

    first = record(cash("g000", "100.00", priority=0, effective_at=day(-1), created_at=day(-1)))
    others = [record(cash(f"g{i:03d}", "1.00", effective_at=day(-1), created_at=day(-1))) for i in range(1, 1000)]
    repo = repo_with([first, *others])
    lines = [BurnLine("l1", None, D("10.00"))]
    balances = invoice_balances(repo, "a", "c", lines, "USD")
    allocations = plan_reading(lines, balances, "USD", NOW)
    assert [(a.grant_id, a.value) for a in allocations] == [("g000", D("10.00"))]
    assert repo.pulled <= balance_reading.BURN_PAGE


def test_a_void_that_empties_a_balance_reads_until_it_finds_what_is_left():
    from tests.unit.test_burndown import cash

    grants = [record(cash(f"g{i}", "1.00", effective_at=day(-1), created_at=day(-1))) for i in range(40)]
    repo = repo_with(grants)
    reader = BalanceReader(repo, "a", "c", "CASH", "USD")
    spent = {g.id: g.evolve(current_balance=D(0)) for g in grants[:39]}
    assert not reader.depleted(NOW, spent)
    spent[grants[39].id] = grants[39].evolve(current_balance=D(0))
    assert BalanceReader(repo_with(grants), "a", "c", "CASH", "USD").depleted(NOW, spent)
    # An empty balance (no grant at all) is depleted.
    assert BalanceReader(repo_with([]), "a", "c", "USAGE", "api").depleted(NOW, {})


def test_a_grant_that_moves_between_pages_makes_the_apply_read_again():
    """A PATCH of priority between two pages of the index: the grant comes again on the next
    page. Apply must not plan on a mixed read (burndown refuses a duplicate id): it starts over."""
    from datetime import datetime

    from credits.models.api import ApplyRequest
    from credits.services.applications import ApplicationService

    from tests.unit.test_burndown import cash

    grants = [record(cash(f"g{i:02d}", "1.00", effective_at=day(-1), created_at=day(-1))) for i in range(20)]
    repo = repo_with(grants)
    original = InMemoryRepository.burn_candidates
    calls = {"n": 0}

    def moving(self, *args):
        calls["n"] += 1
        source = original(self, *args)
        for index, grant in enumerate(source):
            yield grant
            if calls["n"] == 1 and index == balance_reading.BURN_PAGE - 1:
                # After the first page: g00 goes to priority 90, i.e. after every other grant.
                g = self.grants[("a", "g00")]
                self.grants[("a", "g00")] = g.evolve(priority=90, version=g.version + 1)
                yield from original(self, *args)
                return

    counting = CountingRepository.burn_candidates
    CountingRepository.burn_candidates = moving  # type: ignore[method-assign]
    try:
        service = ApplicationService(repo, clock=lambda: datetime(2026, 1, 1, tzinfo=day(0).tzinfo))
        app, created = service.apply("a", ApplyRequest(invoiceId="inv", customerId="c", currency="USD",
                                                       lines=[{"lineId": "l", "amount": "18.00"}]))
    finally:
        CountingRepository.burn_candidates = counting  # type: ignore[method-assign]
    app = application_view(app)
    assert created and app.creditsApplied == "18.00"
    assert calls["n"] >= 2  # read again after the move
    assert "g00" not in {a.grantId for a in app.allocations}  # priority 90 now: the last one needed
