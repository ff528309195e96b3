"""Per-line ledger entries (issue 15): one APPLIED entry per grant and invoice line, carrying its
lineId, and one RELEASED entry mirroring each; a grant paying more lines than one transaction
holds is split between chunks, and every /v1 balance transaction names its invoice line."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal

from credits.api.stripe.view import shows_entry, transaction_object
from credits.models.api import ApplyRequest, CreateGrantRequest
from credits.services.applications import ApplicationService
from credits.services.grants import GrantService

from tests.fakes import InMemoryRepository, ledger_invariant_violations

NOW = datetime(2026, 6, 1, tzinfo=UTC)
ACCOUNT = "acct_lines"


def _setup(grant_amounts: list[str]):
    repo = InMemoryRepository()
    grants = GrantService(repo, clock=lambda: NOW)
    apps = ApplicationService(repo, clock=lambda: NOW)
    made = [grants.create(ACCOUNT, CreateGrantRequest(customerId="cus_1", name=f"g{i}", type="CASH", amount=a,
                                                       currency="USD")) for i, a in enumerate(grant_amounts)]
    return repo, apps, made


def _apply(apps, invoice: str, amounts: list[str]):
    lines = [{"lineId": f"l{i}", "amount": a} for i, a in enumerate(amounts)]
    return apps.apply(ACCOUNT, ApplyRequest(invoiceId=invoice, customerId="cus_1", currency="USD", lines=lines))[0]


def test_one_applied_entry_per_grant_and_line_and_releases_mirror_them():
    repo, apps, (g1, g2) = _setup(["30.00", "100.00"])
    app = _apply(apps, "inv_1", ["20.00", "25.00", "10.00"])
    applied = [e for e in repo.entries if e.type == "APPLIED"]
    assert sorted((e.grant_id, e.line_id, e.amount) for e in applied) == sorted(
        (a.grant_id, a.line_id, a.units or a.value) for a in app.allocations)
    assert {e.line_id for e in applied if e.grant_id == g1.id} == {"l0", "l1"}
    # balanceAfter runs entry by entry: 30 - 20 = 10, then 10 - 10 = 0.
    assert [e.balance_after for e in applied if e.grant_id == g1.id] == [Decimal("10.00"), Decimal("0.00")]
    apps.release(ACCOUNT, "inv_1")
    released = [e for e in repo.entries if e.type == "RELEASED"]
    assert Counter((e.grant_id, e.line_id, e.amount) for e in released) == Counter(
        (e.grant_id, e.line_id, e.amount) for e in applied)
    assert ledger_invariant_violations(list(repo.grants.values()), repo.entries, list(repo.applications.values())) == []
    for e in repo.entries:
        grant = repo.grants[(ACCOUNT, e.grant_id)]
        if shows_entry(e) and e.type in ("APPLIED", "RELEASED"):
            tx = transaction_object(e, grant, livemode=False)
            side = tx["debit"]["credits_applied"] if e.type == "APPLIED" else tx["credit"]["credits_application_invoice_voided"]
            assert side == {"invoice": "inv_1", "invoice_line_item": e.line_id} and e.line_id is not None


def test_a_grant_paying_500_lines_is_split_between_transactions_and_released_the_same_way():
    repo, apps, (grant,) = _setup(["1000.00"])
    # The fake refuses a transaction of more than 100 items, as DynamoDB does.
    app = _apply(apps, "inv_big", ["1.00"] * 500)
    assert app.status == "PENDING" and len(app.allocations) == 500
    applied = [e for e in repo.entries if e.type == "APPLIED"]
    assert len(applied) == 500 and len({e.line_id for e in applied}) == 500
    assert repo.get_grant(ACCOUNT, grant.id).current_balance == Decimal("500.00")
    assert repo.get_grant(ACCOUNT, grant.id).pending_amount == Decimal("500.00")
    apps.release(ACCOUNT, "inv_big")
    assert len([e for e in repo.entries if e.type == "RELEASED"]) == 500
    after = repo.get_grant(ACCOUNT, grant.id)
    assert (after.current_balance, after.pending_amount) == (Decimal("1000.00"), Decimal("0.00"))
    assert ledger_invariant_violations([after], repo.entries, list(repo.applications.values())) == []


def test_settle_of_a_split_grant_settles_each_chunk_once():
    repo, apps, (grant,) = _setup(["1000.00"])
    _apply(apps, "inv_s", ["2.00"] * 300)
    settled = apps.settle(ACCOUNT, "inv_s")
    assert settled.status == "SETTLED"
    assert sum(e.amount for e in repo.entries if e.type == "SETTLED") == Decimal("600.00")
    assert repo.get_grant(ACCOUNT, grant.id).pending_amount == Decimal("0.00")


def test_single_line_invoices_keep_32_grants_per_transaction():
    repo, apps, grants = _setup(["1.00"] * 40)
    calls = []
    original = repo.commit_application

    def counting(app, expected, updates, entries):
        updates = list(updates)
        calls.append(len(updates))
        return original(app, expected, updates, entries)

    repo.commit_application = counting  # type: ignore[method-assign]
    _apply(apps, "inv_40", ["40.00"])
    assert calls == [32, 8]  # ⌈40/32⌉ chunks, as before per-line entries
