"""Random sequences of the v2 ledger vocabulary (issue 15) on the pure core and in-memory
adapters: grants (some requiring payment, some with rollover), payments PAID / FAILED,
adjustments, applications with several lines, releases, voids with refund, time passing and
expiry sweeps that roll balances over. After every step: the v2 ledger invariant for every grant,
report rows that add up to their `outstanding` (which equals what the grants hold), and, per
customer, the /v1 balance transactions summing to the /v1 balance summary's ledger balance."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import hypothesis.strategies as st
from credits.api.stripe.view import is_visible, shows_entry, summary_object, transaction_object
from credits.domain import money
from credits.domain.errors import Conflict, InvalidRequest
from credits.domain.expiry_rules import is_due_for_expiry
from credits.domain.grant_rules import build_grant, granted_entry
from credits.domain.report_rules import build_report
from credits.models.api import ApplyRequest, CreateGrantRequest
from credits.services.applications import ApplicationService
from credits.services.expiry import ExpiryService
from credits.services.grants import GrantService
from hypothesis import settings
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from tests.fakes import InMemoryRepository, ledger_invariant_violations

START = datetime(2026, 6, 1, tzinfo=UTC)
ACCOUNT = "acct_v2"
cents = st.integers(min_value=1, max_value=20_000).map(lambda c: str(Decimal(c) / 100))
customers = st.sampled_from(["cus_1", "cus_2"])


class SweepOverMemory:
    """The SweepStore port over the in-memory repository (one shard, expiry queue only)."""

    shards = 1

    def __init__(self, repo: InMemoryRepository, clock):
        self.repo, self.clock = repo, clock

    def due_keys(self, queue, shard, until, page_size):
        if queue != "EXPIRY":
            return iter(())
        return iter([key for key, g in sorted(self.repo.grants.items()) if is_due_for_expiry(g, until)])

    def read_grant(self, key):
        return self.repo.grants.get(key)

    def save_expired(self, grant, expected_version, entries):
        self.repo.save_grant(grant, expected_version, entries)

    def save_noticed(self, grant, expected_version, notice):  # pragma: no cover - no notice queue here
        self.repo.save_grant(grant, expected_version)

    def save_rolled_over(self, grant, expected_version, entries, rollover, granted):
        with self.repo._lock:
            self.repo._check_version(rollover, None)  # create-once, as attribute_not_exists
            self.repo.save_grant(grant, expected_version, entries)
            self.repo.create_grant(rollover, granted)


class PaidLedgerMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.now = START
        self.repo = InMemoryRepository()
        clock = lambda: self.now  # noqa: E731
        self.grants = GrantService(self.repo, attempts=3, clock=clock)
        self.apps = ApplicationService(self.repo, attempts=3, clock=clock, chunk_grants=2)
        self.sweep = ExpiryService(SweepOverMemory(self.repo, clock), lead=timedelta(days=7), clock=clock,
                                   reserve_ms=0, workers=1)
        self.grant_ids: list[str] = []
        self.invoices: list[str] = []

    # ------------------------------------------------------------------ grants
    @rule(customer=customers, amount=cents, promo=st.booleans(), expires_in=st.sampled_from([None, 1, 3]))
    def grant_cash(self, customer, amount, promo, expires_in):
        body = CreateGrantRequest(customerId=customer, name="cash", type="CASH", amount=amount, currency="USD",
                                  category="PROMOTIONAL" if promo else "PAID",
                                  expiresAt=_iso(self.now + timedelta(days=expires_in)) if expires_in else None)
        self.grant_ids.append(self.grants.create(ACCOUNT, body).id)

    @rule(customer=customers, amount=cents, cost=cents)
    def grant_requiring_payment(self, customer, amount, cost):
        body = CreateGrantRequest(customerId=customer, name="prepaid", type="CASH", amount=amount, currency="USD",
                                  costOfCredit=cost, requirePayment=True)
        grant = self.grants.create(ACCOUNT, body)
        assert grant.status_at(self.now) == "AWAITING_PAYMENT" and grant.current_balance == 0
        self.grant_ids.append(grant.id)

    @rule(customer=customers, amount=cents, cap=cents, days=st.integers(1, 3))
    def grant_with_rollover(self, customer, amount, cap, days):
        """A schedule's period grant with rollover (what schedule_rules.period_grant makes)."""
        body = CreateGrantRequest(customerId=customer, name="allowance", type="CASH", amount=amount, currency="USD",
                                  category="PROMOTIONAL", expiresAt=_iso(self.now + timedelta(days=days)))
        grant = build_grant(ACCOUNT, body, self.now).evolve(
            rollover_max=Decimal(cap), rollover_interval="DAY", rollover_interval_count=2)
        self.repo.create_grant(grant, granted_entry(grant, self.now))
        self.grant_ids.append(grant.id)

    @precondition(lambda self: self.grant_ids)
    @rule(data=st.data(), status=st.sampled_from(["PAID", "FAILED"]))
    def payment(self, data, status):
        grant_id = data.draw(st.sampled_from(self.grant_ids))
        before = self.repo.get_grant(ACCOUNT, grant_id)
        try:
            after = self.grants.record_payment(ACCOUNT, grant_id, status)
        except Conflict:
            assert not before.awaiting_payment or before.voided_at is not None
            return
        assert before.require_payment
        if status == "PAID" and before.awaiting_payment:
            assert after.current_balance == after.original_amount
        if status == "FAILED":
            assert after.voided_at is not None and after.current_balance == 0

    @precondition(lambda self: self.grant_ids)
    @rule(data=st.data(), direction=st.sampled_from(["INCREASE", "DECREASE"]), amount=cents)
    def adjust(self, data, direction, amount):
        grant_id = data.draw(st.sampled_from(self.grant_ids))
        before = self.repo.get_grant(ACCOUNT, grant_id)
        try:
            entry = self.grants.adjust(ACCOUNT, grant_id, direction, amount, "test")
        except Conflict:
            assert before.status_at(self.now) in ("VOIDED", "EXPIRED", "AWAITING_PAYMENT")
            return
        except InvalidRequest:
            assert direction == "DECREASE" and Decimal(amount) > before.current_balance
            return
        assert entry.type == ("ADJUSTED_UP" if direction == "INCREASE" else "ADJUSTED_DOWN")

    @precondition(lambda self: self.grant_ids)
    @rule(data=st.data(), refund=st.booleans())
    def void(self, data, refund):
        grant_id = data.draw(st.sampled_from(self.grant_ids))
        before = self.repo.get_grant(ACCOUNT, grant_id)
        count = len(self.repo.entries)
        try:
            self.grants.void(ACCOUNT, grant_id, "test", refund=refund)
        except InvalidRequest:
            assert refund and before.category != "PAID"
            return
        except Conflict:
            assert before.status_at(self.now) == "EXPIRED"
            return
        for entry in self.repo.entries[count:]:
            if refund and entry.type == "VOIDED":
                expected = money.round_money(entry.amount * before.cost_of_credit / before.original_amount, "USD")
                assert entry.context["refund"]["refundAmount"] == money.format_money(expected, "USD")

    # ------------------------------------------------------------------ applications
    @rule(customer=customers, amounts=st.lists(cents, min_size=1, max_size=4), settle=st.booleans())
    def apply(self, customer, amounts, settle):
        invoice = f"inv_{len(self.invoices)}"
        lines = [{"lineId": f"l{i}", "amount": a} for i, a in enumerate(amounts)]
        app, _ = self.apps.apply(ACCOUNT, ApplyRequest(invoiceId=invoice, customerId=customer, currency="USD",
                                                       settle=settle, lines=lines))
        applied = [e for e in self.repo.entries if e.type == "APPLIED" and e.invoice_id == invoice]
        assert len(applied) == len(app.allocations) and all(e.line_id is not None for e in applied)
        self.invoices.append(invoice)

    @precondition(lambda self: self.invoices)
    @rule(data=st.data())
    def release(self, data):
        invoice = data.draw(st.sampled_from(self.invoices))
        assert self.apps.release(ACCOUNT, invoice).status == "RELEASED"
        released = [e for e in self.repo.entries if e.type == "RELEASED" and e.invoice_id == invoice]
        assert all(e.line_id is not None for e in released)

    # ------------------------------------------------------------------ time
    @rule(days=st.integers(1, 3))
    def time_passes_and_the_sweep_runs(self, days):
        self.now += timedelta(days=days)
        self.sweep.run()
        assert not [g for g in self.repo.grants.values() if is_due_for_expiry(g, self.now)]

    # ------------------------------------------------------------------ invariants
    @invariant()
    def v2_ledger_invariant(self):
        assert ledger_invariant_violations(list(self.repo.grants.values()), self.repo.entries,
                                           list(self.repo.applications.values())) == []

    @invariant()
    def report_rows_add_up_to_what_grants_hold(self):
        rows = build_report(self.repo.entries, START, self.now + timedelta(days=1))
        held: dict[str, Decimal] = defaultdict(Decimal)
        for grant in self.repo.grants.values():
            held[grant.currency] += grant.current_balance
        for row in rows:
            d = {k: Decimal(v) for k, v in row.model_dump().items() if k in _COLUMNS}
            assert (d["granted"] + d["adjusted"] - d["applied"] - d["consumed"] + d["released"] - d["expired"]
                    - d["voided"] - d["rolledOver"]) == d["outstanding"]
            assert d["outstanding"] == held[row.currency]

    @invariant()
    def v1_transactions_sum_to_the_balance_summary(self):
        for customer in ("cus_1", "cus_2"):
            grants = [g for g in self.repo.grants.values() if g.customer_id == customer and is_visible(g)]
            by_id = {g.id: g for g in grants}
            total = 0
            for entry in self.repo.entries:
                if entry.grant_id in by_id and shows_entry(entry):
                    tx = transaction_object(entry, by_id[entry.grant_id], livemode=False)
                    side = tx["credit"] or tx["debit"]
                    total += side["amount"]["monetary"]["value"] * (1 if tx["credit"] else -1)
            summary = summary_object(customer, grants, self.now, livemode=False)
            ledger = sum(b["ledger_balance"]["monetary"]["value"] for b in summary["balances"])
            assert total == ledger


_COLUMNS = ("granted", "adjusted", "applied", "consumed", "released", "expired", "voided", "rolledOver", "outstanding")


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


PaidLedgerMachine.TestCase.settings = settings(max_examples=150, stateful_step_count=30, deadline=None)
TestPaidLedgerMachine = PaidLedgerMachine.TestCase
