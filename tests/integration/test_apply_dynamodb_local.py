"""The apply engine on DynamoDB Local: contention, >100-item applications, crash recovery."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from credits.api.views import application_view
from credits.container import repository
from credits.domain.errors import Conflict
from credits.models.api import ApplyRequest, CreateGrantRequest
from credits.services.applications import ApplicationService
from credits.services.grants import GrantService

from tests.fakes import ledger_invariant_violations

ACCOUNT = "acct_int"


def _grant(service: GrantService, amount: str, customer: str = "cus_1", **extra) -> str:
    body = CreateGrantRequest(customerId=customer, name="g", type="CASH", amount=amount, currency="USD", **extra)
    return service.create(ACCOUNT, body).id


def _invoice(invoice_id: str, amount: str, customer: str = "cus_1") -> ApplyRequest:
    return ApplyRequest(invoiceId=invoice_id, customerId=customer, currency="USD",
                        lines=[{"lineId": "l1", "amount": amount}])


def _state(repo, customer: str = "cus_1"):
    grants = repo.customer_grants(ACCOUNT, customer)
    entries = [e for g in grants for e in repo.grant_ledger(ACCOUNT, customer, g.id)]
    return grants, entries


def test_twenty_concurrent_applications_never_overspend_one_grant(table):
    repo = repository()
    grants = GrantService(repo)
    for round_ in range(5):
        customer = f"cus_race_{round_}"
        _grant(grants, "10.00", customer)
        applied: list[Decimal] = []
        errors: list[Exception] = []
        barrier = threading.Barrier(20)

        def apply(i: int) -> None:
            service = ApplicationService(repo, attempts=60)
            barrier.wait()
            try:
                app, _ = service.apply(ACCOUNT, _invoice(f"inv_{round_}_{i}", "1.00", customer))
                applied.append(Decimal(application_view(app).creditsApplied))
            except Exception as exc:  # noqa: BLE001 - collected and asserted below
                errors.append(exc)

        threads = [threading.Thread(target=apply, args=(i,)) for i in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert sum(applied) == Decimal("10.00")
        assert sorted(applied).count(Decimal("1.00")) == 10
        (grant,) = repo.customer_grants(ACCOUNT, customer)
        assert grant.current_balance == 0 and grant.pending_amount == Decimal("10.00")


def test_an_invoice_needing_150_grants_comes_out_exactly_right(table):
    repo = repository()
    grants = GrantService(repo)
    for _ in range(150):
        _grant(grants, "1.00")
    app, created = ApplicationService(repo).apply(ACCOUNT, _invoice("inv_150", "120.00"))
    app = application_view(app)
    assert created and app.creditsApplied == "120.00" and app.totalDue == "0.00"
    assert len({a.grantId for a in app.allocations}) == 120
    all_grants, entries = _state(repo)
    assert sum(g.current_balance for g in all_grants) == Decimal("30.00")
    assert sum(g.pending_amount for g in all_grants) == Decimal("120.00")
    assert ledger_invariant_violations(all_grants, entries, [repo.get_application(ACCOUNT, "inv_150")]) == []
    # A replay consumes nothing more.
    again, created = ApplicationService(repo).apply(ACCOUNT, _invoice("inv_150", "120.00"))
    assert not created and application_view(again).creditsApplied == "120.00"
    assert sum(g.current_balance for g in repo.customer_grants(ACCOUNT, "cus_1")) == Decimal("30.00")
    # Release goes back to every grant, in chunks too.
    released = ApplicationService(repo).release(ACCOUNT, "inv_150")
    assert released.status == "RELEASED"
    assert sum(g.current_balance for g in repo.customer_grants(ACCOUNT, "cus_1")) == Decimal("150.00")


class Crash(Exception):
    pass


def test_a_crash_between_chunks_then_a_retry_ends_as_without_the_crash(table):
    repo = repository()
    grants = GrantService(repo)
    for _ in range(70):
        _grant(grants, "1.00", "cus_crash")
        _grant(grants, "1.00", "cus_clean")

    def crash_after_first(chunk: int) -> None:
        if chunk == 1:
            raise Crash()

    crashing = ApplicationService(repo, after_chunk=crash_after_first)
    with pytest.raises(Crash):
        crashing.apply(ACCOUNT, _invoice("inv_c", "65.00", "cus_crash"))
    assert repo.get_application(ACCOUNT, "inv_c").status == "COMMITTING"
    with pytest.raises(Conflict):  # half-written: settle must wait for the apply to finish
        ApplicationService(repo).settle(ACCOUNT, "inv_c")
    recovered, _ = ApplicationService(repo).apply(ACCOUNT, _invoice("inv_c", "65.00", "cus_crash"))
    clean, _ = ApplicationService(repo).apply(ACCOUNT, _invoice("inv_c2", "65.00", "cus_clean"))
    recovered, clean = application_view(recovered), application_view(clean)
    assert recovered.status == clean.status == "PENDING"
    assert recovered.creditsApplied == clean.creditsApplied == "65.00"
    balances = lambda c: sorted(g.current_balance for g in repo.customer_grants(ACCOUNT, c))  # noqa: E731
    assert balances("cus_crash") == balances("cus_clean")
    grants_after, entries = _state(repo, "cus_crash")
    assert ledger_invariant_violations(grants_after, entries, [repo.get_application(ACCOUNT, "inv_c")]) == []
    assert sum(1 for e in entries if e.type == "APPLIED") == 65


def test_release_after_void_and_expiry_writes_the_amount_off(table):
    repo = repository()
    grants = GrantService(repo)
    voided = _grant(grants, "5.00", priority=0)
    kept = _grant(grants, "5.00", priority=1)
    apps = ApplicationService(repo)
    apps.apply(ACCOUNT, _invoice("inv_v", "8.00"))
    grants.void(ACCOUNT, voided, "fraud")
    apps.release(ACCOUNT, "inv_v")
    by_id = {g.id: g for g in repo.customer_grants(ACCOUNT, "cus_1")}
    assert by_id[voided].current_balance == 0 and by_id[voided].pending_amount == 0
    assert by_id[kept].current_balance == Decimal("5.00")
    types = [e.type for e in repo.grant_ledger(ACCOUNT, "cus_1", voided)]
    # Voided with nothing left: no VOIDED entry then (amounts are positive); the release writes one.
    assert types == ["GRANTED", "APPLIED", "RELEASED", "VOIDED"]
    grants_after, entries = _state(repo)
    assert ledger_invariant_violations(grants_after, entries, []) == []
