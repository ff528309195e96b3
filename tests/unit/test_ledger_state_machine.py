"""Random sequences of grant / patch / void / delete / apply / settle / release on the pure core
(in-memory repository): the contract's ledger invariant holds after every step."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import hypothesis.strategies as st
from credits.api.views import application_view
from credits.domain.errors import Conflict
from credits.models.api import ApplyRequest, CreateGrantRequest, UpdateGrantRequest
from credits.services.applications import ApplicationService
from credits.services.grants import GrantService
from hypothesis import settings
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from tests.fakes import InMemoryRepository, ledger_invariant_violations

NOW = datetime(2026, 6, 1, tzinfo=UTC)
ACCOUNT = "acct_sm"
cents = st.integers(min_value=1, max_value=50_000).map(lambda c: str(Decimal(c) / 100))
units = st.integers(min_value=1, max_value=5_000).map(str)
customers = st.sampled_from(["cus_1", "cus_2"])


class LedgerMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.repo = InMemoryRepository()
        clock = lambda: NOW  # noqa: E731
        self.grants = GrantService(self.repo, attempts=3, clock=clock)
        self.apps = ApplicationService(self.repo, attempts=3, clock=clock, chunk_grants=2)
        self.grant_ids: list[str] = []
        self.invoices: list[str] = []

    @rule(customer=customers, amount=cents, priority=st.integers(0, 100), promo=st.booleans())
    def grant_cash(self, customer, amount, priority, promo):
        body = CreateGrantRequest(customerId=customer, name="cash", type="CASH", amount=amount, currency="USD",
                                  priority=priority, category="PROMOTIONAL" if promo else "PAID")
        self.grant_ids.append(self.grants.create(ACCOUNT, body).id)

    @rule(customer=customers, amount=units)
    def grant_usage(self, customer, amount):
        body = CreateGrantRequest(customerId=customer, name="units", type="USAGE", amount=amount, metricId="api_calls")
        self.grant_ids.append(self.grants.create(ACCOUNT, body).id)

    @precondition(lambda self: self.grant_ids)
    @rule(data=st.data(), priority=st.integers(0, 100))
    def patch(self, data, priority):
        grant_id = data.draw(st.sampled_from(self.grant_ids))
        try:
            self.grants.patch(ACCOUNT, grant_id, UpdateGrantRequest(priority=priority, name="renamed"))
        except Conflict:
            assert self.repo.get_grant(ACCOUNT, grant_id).voided_at is not None

    @precondition(lambda self: self.grant_ids)
    @rule(data=st.data())
    def void(self, data):
        grant_id = data.draw(st.sampled_from(self.grant_ids))
        if self.repo.get_grant(ACCOUNT, grant_id) is not None:
            grant = self.grants.void(ACCOUNT, grant_id, "test")
            assert grant.current_balance == 0

    @precondition(lambda self: self.grant_ids)
    @rule(data=st.data())
    def delete(self, data):
        grant_id = data.draw(st.sampled_from(self.grant_ids))
        grant = self.repo.get_grant(ACCOUNT, grant_id)
        if grant is None:
            return
        try:
            self.grants.delete(ACCOUNT, grant_id)
            assert not grant.ever_applied
            self.grant_ids.remove(grant_id)
        except Conflict:
            assert grant.ever_applied

    @rule(customer=customers, amount=cents, quantity=units, settle=st.booleans())
    def apply(self, customer, amount, quantity, settle):
        invoice = f"inv_{len(self.invoices)}"
        request = ApplyRequest(invoiceId=invoice, customerId=customer, currency="USD", settle=settle, lines=[
            {"lineId": "usage", "metricId": "api_calls", "quantity": quantity, "unitPrice": "0.01"},
            {"lineId": "fee", "amount": amount}])
        application, created = self.apps.apply(ACCOUNT, request)
        application = application_view(application)
        assert created
        assert Decimal(application.creditsApplied) <= Decimal(application.subtotal)
        assert Decimal(application.totalDue) >= 0
        again, created_again = self.apps.apply(ACCOUNT, request)
        assert not created_again and application_view(again).allocations == application.allocations
        self.invoices.append(invoice)

    @precondition(lambda self: self.invoices)
    @rule(data=st.data())
    def settle(self, data):
        invoice = data.draw(st.sampled_from(self.invoices))
        try:
            assert self.apps.settle(ACCOUNT, invoice).status == "SETTLED"
        except Conflict:
            assert self.repo.get_application(ACCOUNT, invoice).status == "RELEASED"

    @precondition(lambda self: self.invoices)
    @rule(data=st.data())
    def release(self, data):
        invoice = data.draw(st.sampled_from(self.invoices))
        assert self.apps.release(ACCOUNT, invoice).status == "RELEASED"

    @invariant()
    def ledger_invariant(self):
        problems = ledger_invariant_violations(list(self.repo.grants.values()), self.repo.entries,
                                               list(self.repo.applications.values()))
        assert problems == []


LedgerMachine.TestCase.settings = settings(max_examples=200, stateful_step_count=30, deadline=None)
TestLedgerMachine = LedgerMachine.TestCase
