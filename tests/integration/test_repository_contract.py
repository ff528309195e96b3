"""One scripted scenario, run against the in-memory fake and against DynamoDB Local: the core
behaves the same over both adapters, and the ledger invariant holds at the end."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from credits.api.views import application_view
from credits.domain.errors import ConcurrentUpdate, Conflict, NotFound
from credits.models.api import ApplyRequest, CreateGrantRequest, UpdateGrantRequest
from credits.services.applications import ApplicationService
from credits.services.grants import GrantService
from credits.services.ports import GrantQuery, LedgerQuery

from tests.fakes import InMemoryRepository, ledger_invariant_violations

ACCOUNT = "acct_contract"


@pytest.fixture(params=["memory", "dynamodb-local"])
def repo(request):
    if request.param == "memory":
        return InMemoryRepository()
    request.getfixturevalue("table")
    from credits.container import repository

    return repository()


def test_mixed_scenario_keeps_the_ledger_invariant(repo):
    clock_now = [datetime.now(UTC).replace(microsecond=0)]
    clock = lambda: clock_now[0]  # noqa: E731
    grants = GrantService(repo, clock=clock)
    apps = ApplicationService(repo, clock=clock, chunk_grants=2)

    def grant(**kw):
        base = dict(customerId="cus_1", name="g", type="CASH", amount="10.00", currency="USD")
        return grants.create(ACCOUNT, CreateGrantRequest(**{**base, **kw})).id

    cash_a = grant(priority=10)
    cash_b = grant(amount="25.50", expiresAt=(clock_now[0] + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%SZ"))
    usage = grant(type="USAGE", currency=None, amount="1000", metricId="api_calls")
    doomed = grant(amount="3.00")
    eur = grant(currency="EUR", amount="9.99")
    grants.delete(ACCOUNT, doomed)
    with pytest.raises(NotFound):
        grants.get(ACCOUNT, doomed)
    grants.patch(ACCOUNT, cash_a, UpdateGrantRequest(name="renamed", priority=5))
    request = ApplyRequest(invoiceId="inv_1", customerId="cus_1", currency="USD", lines=[
        {"lineId": "u", "metricId": "api_calls", "quantity": "1500", "unitPrice": "0.01"},
        {"lineId": "f", "amount": "20.00"}])
    app, created = apps.apply(ACCOUNT, request)
    app = application_view(app)
    assert created and app.subtotal == "35.00" and app.creditsApplied == "35.00" and app.totalDue == "0.00"
    # usage first (1000 units = 10.00), then cash_a (priority 5) fully, then cash_b
    assert [(a.grantId, a.lineId, a.value) for a in app.allocations] == [
        (usage, "u", "10.00"), (cash_a, "u", "5.00"), (cash_a, "f", "5.00"), (cash_b, "f", "15.00")]
    with pytest.raises(Conflict):
        grants.delete(ACCOUNT, cash_a)
    apps.settle(ACCOUNT, "inv_1")
    apps.apply(ACCOUNT, ApplyRequest(invoiceId="inv_2", customerId="cus_1", currency="USD",
                                     lines=[{"lineId": "x", "amount": "5.00"}]))
    grants.void(ACCOUNT, cash_b, "goodwill reversed")
    apps.release(ACCOUNT, "inv_2")
    grants.patch(ACCOUNT, eur, UpdateGrantRequest(expiryDate=(clock_now[0] + timedelta(days=40)).date().isoformat()))

    all_grants = repo.customer_grants(ACCOUNT, "cus_1")
    entries = [e for g in all_grants for e in repo.grant_ledger(ACCOUNT, "cus_1", g.id)]
    applications = [repo.get_application(ACCOUNT, "inv_1"), repo.get_application(ACCOUNT, "inv_2")]
    assert ledger_invariant_violations(all_grants, entries, applications) == []
    balances = {g.id: (g.current_balance, g.pending_amount) for g in all_grants}
    assert balances[cash_a] == (Decimal("0.00"), Decimal("0.00"))
    assert balances[cash_b] == (Decimal("0"), Decimal("0"))
    assert balances[eur] == (Decimal("9.99"), Decimal("0"))

    page = repo.list_grants(ACCOUNT, GrantQuery(customer_id="cus_1", limit=2), clock())
    assert page.total == 4 and len(page.items) == 2 and page.after is not None
    assert [g.id for g in page.items] == sorted((g.id for g in all_grants), reverse=True)[:2]
    voided = repo.list_grants(ACCOUNT, GrantQuery(status="VOIDED", limit=10), clock())
    assert [g.id for g in voided.items] == [cash_b]
    ledger = repo.list_ledger(ACCOUNT, "cus_1", LedgerQuery(grant_id=cash_b, limit=50))
    assert [e.type for e in ledger.items] == ["GRANTED", "APPLIED", "SETTLED", "APPLIED", "VOIDED", "RELEASED", "VOIDED"]


def test_a_stale_version_is_refused(repo):
    grants = GrantService(repo)
    grant_id = grants.create(ACCOUNT, CreateGrantRequest(customerId="cus_1", name="g", type="CASH", amount="1",
                                                         currency="USD")).id
    stale = repo.get_grant(ACCOUNT, grant_id)
    grants.patch(ACCOUNT, grant_id, UpdateGrantRequest(name="first"))
    with pytest.raises(ConcurrentUpdate):
        repo.save_grant(stale.evolve(name="lost update", version=stale.version + 1), stale.version, [])
    assert repo.get_grant(ACCOUNT, grant_id).name == "first"


def test_burn_candidates_come_in_burn_down_order_and_only_while_spendable(repo):
    """LSI1 (DynamoDB Local) and the fake agree with burndown.grant_sort_key: the index order is
    the burn-down order, and spent, voided or other-balance grants are not in it."""
    from credits.domain.application_rules import burn_grant
    from credits.domain.burndown import grant_sort_key

    now = datetime.now(UTC).replace(microsecond=0)
    grants = GrantService(repo, clock=lambda: now)
    at = lambda days: (now + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")  # noqa: E731

    def grant(**kw):
        base = dict(customerId="cus_order", name="g", type="CASH", amount="1.00", currency="USD")
        return grants.create(ACCOUNT, CreateGrantRequest(**{**base, **kw})).id

    expected = [
        grant(priority=0, expiresAt=at(9)),
        grant(priority=0),  # never expires: after every expiring grant of its priority
        grant(priority=50, expiresAt=at(2), category="PAID"),
        grant(priority=50, expiresAt=at(2), category="PROMOTIONAL", costOfCredit="0"),
        grant(priority=50, expiresAt=at(2), category="PAID", effectiveAt=at(-1)),
        grant(priority=100, expiresAt=at(1)),
        grant(priority=7, effectiveAt=at(3)),  # scheduled grants are spendable later: in the index
    ]
    voided = grant(priority=0)
    grants.void(ACCOUNT, voided, "mistake")
    grant(currency="EUR")
    grant(type="USAGE", currency=None, metricId="api", amount="5")
    hashed = grant(type="USAGE", currency=None, metricId="api.calls", amount="5")

    cash = list(repo.burn_candidates(ACCOUNT, "cus_order", "CASH", "USD"))
    by_rule = sorted(cash, key=lambda g: grant_sort_key(burn_grant(g)))
    assert [g.id for g in cash] == [g.id for g in by_rule]
    assert set(g.id for g in cash) == set(expected)
    assert [g.id for g in repo.burn_candidates(ACCOUNT, "cus_order", "USAGE", "api.calls")] == [hashed]
    assert len(list(repo.burn_candidates(ACCOUNT, "cus_order", "USAGE", "api"))) == 1

    # Spent to zero by an application: out of the index; released: back in.
    apps = ApplicationService(repo, clock=lambda: now)
    apps.apply(ACCOUNT, ApplyRequest(invoiceId="inv_order", customerId="cus_order", currency="USD",
                                     lines=[{"lineId": "a", "amount": "2.00"}]))
    assert [g.id for g in repo.burn_candidates(ACCOUNT, "cus_order", "CASH", "USD")] == \
        [g.id for g in by_rule[2:]]
    assert {g.id for g in by_rule[:2]} == {expected[0], expected[1]}
    apps.release(ACCOUNT, "inv_order")
    assert [g.id for g in repo.burn_candidates(ACCOUNT, "cus_order", "CASH", "USD")] == [g.id for g in by_rule]


def test_total_result_size_counts_every_filter_and_follows_deletes(repo):
    """Counters (DynamoDB) and counting (fake) agree: creates count, deletes uncount, voided
    grants still list; a status filter is counted at the read instant."""
    account = "acct_counts"
    grants = GrantService(repo)

    def grant(customer="cus_a", **kw):
        base = dict(customerId=customer, name="g", type="CASH", amount="1.00", currency="USD")
        return grants.create(account, CreateGrantRequest(**{**base, **kw})).id

    usd = [grant(), grant(), grant(customer="cus_b")]
    eur = grant(currency="EUR")
    api = grant(type="USAGE", currency=None, metricId="api", amount="5")
    priced = grant(customer="cus_b", type="USAGE", currency="USD", metricId="api", amount="5", costOfCredit="1.00")
    grants.void(account, usd[0], "voided grants are still listed")
    grants.delete(account, usd[1])

    def total(**filters):
        return repo.list_grants(account, GrantQuery(limit=1, **filters), datetime.now(UTC)).total

    assert total() == 5
    assert total(customer_id="cus_a") == 3 and total(customer_id="cus_b") == 2
    assert total(type="CASH") == 3 and total(type="USAGE") == 2
    assert total(currency="USD") == 3  # two CASH grants and the USAGE grant priced in USD
    assert total(currency="EUR", type="CASH") == 1 and total(metric_id="api") == 2
    assert total(customer_id="cus_b", metric_id="api", type="USAGE") == 1
    assert total(status="VOIDED") == 1 and total(status="ACTIVE") == 4
    assert {eur, api, priced} <= {g.id for g in repo.list_grants(account, GrantQuery(limit=10), datetime.now(UTC)).items}


def test_concurrent_creates_for_one_customer_all_land_and_count(table):
    """On DynamoDB Local: creates that meet on the customer's counter item are retried, never
    lost nor answered 409, and the count is exact."""
    import threading

    from credits.container import repository

    repo = repository()
    grants = GrantService(repo)
    errors: list[Exception] = []

    def create() -> None:
        try:
            for _ in range(5):
                grants.create("acct_race", CreateGrantRequest(customerId="cus_race", name="g", type="CASH",
                                                              amount="1.00", currency="USD"))
        except Exception as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=create) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    now = datetime.now(UTC)
    assert repo.list_grants("acct_race", GrantQuery(customer_id="cus_race", limit=1), now).total == 40
    assert repo.list_grants("acct_race", GrantQuery(limit=1), now).total == 40
    assert len(repo.customer_grants("acct_race", "cus_race")) == 40


def test_reports_from_snapshots_on_dynamodb_local(table):
    """The monthly snapshots stored in the table give the rows of the whole ledger, account-wide
    and for one customer; a second report reads them back instead of the ledger."""
    from credits.container import repository
    from credits.domain.report_rules import build_report
    from credits.services.reports import report

    repo = repository()
    grants = GrantService(repo)
    apps = ApplicationService(repo)
    for customer in ("cus_r1", "cus_r2"):
        grants.create("acct_rep", CreateGrantRequest(customerId=customer, name="g", type="CASH", amount="40.00",
                                                     currency="USD"))
        grants.create("acct_rep", CreateGrantRequest(customerId=customer, name="u", type="USAGE", amount="1000",
                                                     metricId="api", currency="USD", pricePerUnit="0.002"))
    apps.apply("acct_rep", ApplyRequest(invoiceId="inv_rep", customerId="cus_r1", currency="USD", lines=[
        {"lineId": "u", "metricId": "api", "quantity": "300", "unitPrice": "0.01"}, {"lineId": "c", "amount": "15.00"}]))
    apps.release("acct_rep", "inv_rep")
    apps.apply("acct_rep", ApplyRequest(invoiceId="inv_rep2", customerId="cus_r2", currency="USD",
                                        lines=[{"lineId": "c", "amount": "7.50"}]))

    now = datetime.now(UTC)
    start, end = now - timedelta(days=3), now + timedelta(days=45)  # the current month closes before `end`
    later = end + timedelta(hours=2)
    everything = repo.ledger_between("acct_rep", None, end)
    assert len(everything) == 9  # 4 GRANTED, 2 APPLIED, 2 RELEASED, 1 APPLIED
    for customer in (None, "cus_r1"):
        expected = build_report(everything, start, end, customer_id=customer)
        assert report(repo, "acct_rep", start, end, customer_id=customer, now=later).rows == expected
        assert repo.report_snapshots("acct_rep", customer, before=end)  # stored
        assert report(repo, "acct_rep", start, end, customer_id=customer, now=later).rows == expected
    usage = next(r for r in report(repo, "acct_rep", start, end, now=later).rows if r.type == "USAGE")
    assert (usage.applied, usage.released, usage.outstanding, usage.outstandingValue) == ("300", "300", "2000", "4.00")


def test_a_create_repeated_under_its_request_key_returns_the_first_grant(repo):
    """The Idempotency-Key record can be lost after the grant committed (a fault on its save, then
    its in-progress record expiring): the grant's own create-once claim still makes a repeat
    return the first grant, with one GRANTED entry and one count."""
    grants = GrantService(repo)
    body = CreateGrantRequest(customerId="cus_claim", name="g", type="CASH", amount="10.00", currency="USD")
    first = grants.create(ACCOUNT, body, request_key="POST /credit-grants#key-1")
    again = grants.create(ACCOUNT, body, request_key="POST /credit-grants#key-1")
    other = grants.create(ACCOUNT, body, request_key="POST /credit-grants#key-2")
    unkeyed = grants.create(ACCOUNT, body)
    assert again.id == first.id and len({first.id, other.id, unkeyed.id}) == 3
    assert repo.claimed_grant(ACCOUNT, "POST /credit-grants#key-1").id == first.id
    assert repo.claimed_grant("acct_other", "POST /credit-grants#key-1") is None
    made = [g for g in repo.customer_grants(ACCOUNT, "cus_claim")]
    assert sorted(g.id for g in made) == sorted({first.id, other.id, unkeyed.id})
    entries = repo.list_ledger(ACCOUNT, "cus_claim", LedgerQuery(limit=100)).items
    assert sorted(e.grant_id for e in entries if e.type == "GRANTED") == sorted(g.id for g in made)
    page = repo.list_grants(ACCOUNT, GrantQuery(customer_id="cus_claim", limit=100), datetime.now(UTC))
    assert page.total == 3


def test_concurrent_creates_under_one_request_key_make_one_grant(table):
    from concurrent.futures import ThreadPoolExecutor

    from credits.container import repository

    grants = GrantService(repository())
    body = CreateGrantRequest(customerId="cus_claim_race", name="g", type="CASH", amount="1.00", currency="USD")
    with ThreadPoolExecutor(8) as pool:
        made = list(pool.map(lambda _: grants.create(ACCOUNT, body, request_key="POST /credit-grants#race"), range(8)))
    assert len({g.id for g in made}) == 1
    assert [g.id for g in repository().customer_grants(ACCOUNT, "cus_claim_race")] == [made[0].id]


def test_paid_grants_and_adjustments_behave_the_same_on_both_adapters(repo):
    """create_grant without a GRANTED entry (its notice instead), save_grant with notices (each
    once), the AWAITING_PAYMENT status filter, and adjustments: the v2 invariant at the end."""
    now = datetime(2026, 5, 1, tzinfo=UTC)
    grants = GrantService(repo, clock=lambda: now)
    gated = grants.create(ACCOUNT, CreateGrantRequest(customerId="cus_paid", name="prepaid", type="CASH",
                                                      amount="40.00", currency="USD", requirePayment=True))
    stored = repo.get_grant(ACCOUNT, gated.id)
    assert stored.awaiting_payment and stored.current_balance == 0 and stored.require_payment
    assert repo.grant_ledger(ACCOUNT, "cus_paid", gated.id) == []
    page = repo.list_grants(ACCOUNT, GrantQuery(customer_id="cus_paid", status="AWAITING_PAYMENT"), now)
    assert [g.id for g in page.items] == [gated.id]
    assert repo.list_grants(ACCOUNT, GrantQuery(customer_id="cus_paid", status="ACTIVE"), now).items == []
    paid = grants.record_payment(ACCOUNT, gated.id, "PAID", "in_1")
    assert paid.payment_invoice_id == "in_1" and repo.get_grant(ACCOUNT, gated.id).current_balance == Decimal("40.00")
    with pytest.raises(Conflict):
        grants.record_payment(ACCOUNT, gated.id, "FAILED")
    grants.adjust(ACCOUNT, gated.id, "DECREASE", "15.00", "correction")
    grants.adjust(ACCOUNT, gated.id, "INCREASE", "2.50", "goodwill")
    failing = grants.create(ACCOUNT, CreateGrantRequest(customerId="cus_paid", name="prepaid 2", type="CASH",
                                                        amount="10.00", currency="USD", requirePayment=True))
    assert grants.record_payment(ACCOUNT, failing.id, "FAILED").void_reason == "payment failed"
    # A notice is written once: the same notice again loses (nothing else is written).
    from credits.domain.paid_rules import PAYMENT_FAILED
    from credits.domain.records import GrantNotice

    again = repo.get_grant(ACCOUNT, failing.id)
    with pytest.raises(ConcurrentUpdate):
        repo.save_grant(again.evolve(version=again.version + 1), again.version,
                        notices=[GrantNotice(kind=PAYMENT_FAILED, grant=again, created_at=now)])
    all_grants = repo.customer_grants(ACCOUNT, "cus_paid")
    entries = [e for g in all_grants for e in repo.grant_ledger(ACCOUNT, "cus_paid", g.id)]
    assert sorted(e.type for e in entries) == ["ADJUSTED_DOWN", "ADJUSTED_UP", "GRANTED"]
    assert ledger_invariant_violations(all_grants, entries, []) == []
    assert repo.get_grant(ACCOUNT, gated.id).current_balance == Decimal("27.50")


def test_consumptions_and_balance_aggregates_agree_with_the_grants(repo):
    """Consumptions (create-once on eventId, CONSUMED entries) and the balance aggregates that
    every grant write moves: on both adapters the aggregates equal the sum over the grants."""
    from credits.domain import balance_aggregates as aggregates
    from credits.domain.balances import balance_totals
    from credits.models.consumptions import ConsumeRequest
    from credits.services.consumptions import ConsumptionService

    now = datetime.now(UTC).replace(microsecond=0)
    clock = lambda: now  # noqa: E731
    grants = GrantService(repo, clock=clock)
    apps = ApplicationService(repo, clock=clock)
    consumptions = ConsumptionService(repo, clock=clock)
    customer = "cus_agg"

    def grant(**kw):
        base = dict(customerId=customer, name="g", type="CASH", amount="10.00", currency="USD")
        return grants.create(ACCOUNT, CreateGrantRequest(**{**base, **kw})).id

    units = grant(type="USAGE", currency=None, amount="100", metricId="api_calls",
                  expiresAt=(now + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ"))
    grant(amount="5.00", applicability={"metricIds": ["storage"]})
    grant(amount="10.00", priority=1)
    later = grant(amount="7.00", effectiveAt=(now + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ"))
    doomed = grant(amount="1.00")
    record, _, created = consumptions.consume(ACCOUNT, ConsumeRequest(
        eventId="e1", customerId=customer, metricId="api_calls", quantity="120", currency="USD", unitPrice="0.10"))
    assert created and record.covered_units == Decimal(120) and record.uncovered_value == Decimal("0.00")
    assert consumptions.consume(ACCOUNT, ConsumeRequest(eventId="e1", customerId=customer, metricId="api_calls",
                                                        quantity="120", currency="USD", unitPrice="0.10"))[0] == record
    with pytest.raises(Conflict):
        consumptions.consume(ACCOUNT, ConsumeRequest(eventId="e1", customerId=customer, metricId="api_calls",
                                                     quantity="121", currency="USD", unitPrice="0.10"))
    apps.apply(ACCOUNT, ApplyRequest(invoiceId="inv_agg", customerId=customer, currency="USD",
                                     lines=[{"lineId": "x", "amount": "3.00"}]))
    grants.delete(ACCOUNT, doomed)
    grants.void(ACCOUNT, later, "not wanted")
    grants.patch(ACCOUNT, units, UpdateGrantRequest(expiresAt=(now + timedelta(days=5)).strftime("%Y-%m-%dT%H:%M:%SZ")))

    all_grants = repo.customer_grants(ACCOUNT, customer)
    entries = [e for g in all_grants for e in repo.grant_ledger(ACCOUNT, customer, g.id)]
    assert ledger_invariant_violations(all_grants, entries, [repo.get_application(ACCOUNT, "inv_agg")]) == []
    assert sorted(e.amount for e in entries if e.type == "CONSUMED") == [Decimal("2.00"), Decimal(100)]
    for at in (now, now + timedelta(days=3), now + timedelta(days=6)):
        expected = {(r.type, r.currency, r.metric_id, r.available, r.pending, r.expiring, r.grant_count)
                    for r in balance_totals(all_grants, at, timedelta(days=30))}
        found = {(r.type, r.currency, r.metric_id, r.available, r.pending, r.expiring, r.grant_count)
                 for r in (aggregates.totals_at(k, b, at) for k, b in repo.balance_aggregates(ACCOUNT, customer))
                 if r.grant_count}
        assert found == expected
    units_now, cash, _ = consumptions.entitlement(ACCOUNT, customer, "api_calls")
    # 10.00 - 2.00 consumed - 3.00 applied; the other 5.00 may only pay for storage
    assert units_now == 0 and cash == [("USD", Decimal("5.00"))]
@pytest.fixture(params=["memory", "dynamodb-local"])
def clock_store(request):
    if request.param == "memory":
        from tests.fakes import InMemoryTestClockStore

        return InMemoryTestClockStore()
    request.getfixturevalue("table")
    from credits.container import test_clock_store

    return test_clock_store()


def test_test_clock_store_contract(clock_store):
    """Both adapters of TestClockStore: versioned saves, attach conditions, memberships, lists."""
    from credits.domain.test_clock_rules import new_test_clock

    now = datetime(2026, 11, 30, tzinfo=UTC)
    clock = new_test_clock(ACCOUNT, "contract", datetime(2027, 1, 1, tzinfo=UTC), now)
    clock_store.put_new(clock)
    with pytest.raises(ConcurrentUpdate):
        clock_store.put_new(clock)
    assert clock_store.get(ACCOUNT, clock.id) == clock and clock_store.get("acct_other", clock.id) is None
    moved = clock.evolve(frozen_time=datetime(2027, 2, 1, tzinfo=UTC), version=1)
    clock_store.save(moved, 0)
    with pytest.raises(ConcurrentUpdate):
        clock_store.save(moved.evolve(version=2), 0)  # a stale version
    assert clock_store.get(ACCOUNT, clock.id) == moved
    assert [c.id for c in clock_store.list(ACCOUNT, limit=10, after=None, before=None).items] == [clock.id]

    assert not clock_store.customer_has_anything(ACCOUNT, "cus_new")
    with pytest.raises(ConcurrentUpdate):
        clock_store.attach(clock, "cus_new")  # the clock moved since it was read
    clock_store.attach(moved, "cus_new")
    with pytest.raises(ConcurrentUpdate):
        clock_store.attach(moved, "cus_new")  # on a clock already
    assert clock_store.membership(ACCOUNT, "cus_new") == clock.id and clock_store.membership(ACCOUNT, "cus_x") is None
    assert clock_store.customer_has_anything(ACCOUNT, "cus_new")
    assert clock_store.all_customers(ACCOUNT, clock.id) == ["cus_new"]
    assert clock_store.customers(ACCOUNT, clock.id, limit=10, after=None, before=None).items == ["cus_new"]
    assert clock_store.next_due(clock.id) is None  # nothing in its queues
    assert [c for _, c in clock_store.at_work(now + timedelta(days=1))] == []
    while clock_store.delete_some(ACCOUNT, clock.id, "cus_new"):
        pass
    assert clock_store.membership(ACCOUNT, "cus_new") is None
    clock_store.delete_clock(moved)
    assert clock_store.get(ACCOUNT, clock.id) is None


def _walk(list_page, *, limit: int) -> tuple[list[str], list[str], int]:
    """Every id of a list, paged forward with `after`, then back from its last page with `before`."""
    forward, after, totals = [], None, set()
    while True:
        page = list_page(limit=limit, after=after, before=None)
        totals.add(page.total)
        forward += [item.id for item in page.items]
        if page.after is None:
            break
        after = page.after
    backward, before = [item.id for item in page.items], page.before
    while before is not None:
        page = list_page(limit=limit, after=None, before=before)
        backward = [item.id for item in page.items] + backward
        before = page.before
    assert len(totals) == 1
    return forward, backward, totals.pop()


def test_account_wide_lists_page_exactly_across_the_index_shards(repo):
    """The account's grants and ledger are written in GSI1 shards on DynamoDB (store/sharded.py):
    the merged pages keep the exact newest-first order, both ways, with filters and totals."""
    account = "acct_shards"
    grants = GrantService(repo)
    ids, usage = [], []
    for i in range(30):
        kind = dict(type="USAGE", currency=None, metricId="api", amount="5") if i % 3 == 0 else \
            dict(type="CASH", currency="USD", amount="1.00")
        grant_id = grants.create(account, CreateGrantRequest(customerId=f"cus_{i % 7}", name="g", **kind)).id
        ids.append(grant_id)
        if i % 3 == 0:
            usage.append(grant_id)
    now = datetime.now(UTC)

    def grants_page(**paging):
        return repo.list_grants(account, GrantQuery(**paging), now)

    forward, backward, total = _walk(grants_page, limit=7)
    assert forward == backward == sorted(ids, reverse=True) and total == 30

    def usage_page(**paging):
        return repo.list_grants(account, GrantQuery(type="USAGE", **paging), now)

    forward, backward, total = _walk(usage_page, limit=3)
    assert forward == backward == sorted(usage, reverse=True) and total == 10

    entries = repo.ledger_between(account, None, now + timedelta(minutes=1))
    assert sorted(e.grant_id for e in entries) == sorted(ids)
    assert [e.id for e in entries] == sorted(e.id for e in entries)
    assert repo.first_ledger_instant(account) <= min(e.created_at for e in entries)
    if hasattr(repo, "find_entry"):
        assert all(repo.find_entry(account, e.id).grant_id == e.grant_id for e in entries[::7])


def test_the_account_lists_are_spread_over_index_shards(table):
    """On DynamoDB Local: the account's grants and ledger entries sit under several GSI1 keys,
    and Stripe's id cursors page the merged shards exactly."""
    from credits.container import repository
    from credits.store.stripe_store import list_cash_grants

    repo = repository()
    grants = GrantService(repo)
    ids = [grants.create("acct_spread", CreateGrantRequest(customerId=f"cus_{i}", name="g", type="CASH", amount="1.00",
                                                          currency="USD")).id for i in range(24)]
    client, name = table
    items = client.scan(TableName=name, IndexName="GSI1")["Items"]
    shards = {kind: {i["GSI1PK"]["S"] for i in items if i["GSI1PK"]["S"].startswith(f"ACCT#acct_spread#{kind}#")}
              for kind in ("GRANTS", "LEDGER")}
    assert len(shards["GRANTS"]) >= 4 and len(shards["LEDGER"]) >= 4
    newest_first = sorted(ids, reverse=True)
    page, more = list_cash_grants(repo, "acct_spread", None, limit=5, starting_after=newest_first[4])
    assert [g.id for g in page] == newest_first[5:10] and more
    page, more = list_cash_grants(repo, "acct_spread", None, limit=5, ending_before=newest_first[10])
    assert [g.id for g in page] == newest_first[5:10] and more
    page, more = list_cash_grants(repo, "acct_spread", None, limit=5, starting_after=newest_first[20])
    assert [g.id for g in page] == newest_first[21:] and not more


def test_a_deleted_grant_is_remembered_as_deleted(repo):
    grants = GrantService(repo)
    grant_id = grants.create(ACCOUNT, CreateGrantRequest(customerId="cus_del", name="g", type="CASH", amount="1.00",
                                                         currency="USD")).id
    assert not repo.grant_deleted(ACCOUNT, grant_id)
    grants.delete(ACCOUNT, grant_id)
    assert repo.get_grant(ACCOUNT, grant_id) is None and repo.grant_deleted(ACCOUNT, grant_id)
    assert not repo.grant_deleted(ACCOUNT, "cg_unknown")
    with pytest.raises(Conflict):
        grants.adjust(ACCOUNT, grant_id, "INCREASE", "1.00", "late")
    with pytest.raises(NotFound):
        grants.adjust(ACCOUNT, "cg_unknown", "INCREASE", "1.00", "late")
