"""Paid credits, adjustments and refunds (pure): what a payment outcome, an adjustment or a
refunding void changes on a grant, and the ledger entries and notices each writes
(API.md "Paid credits, adjustments, refunds, rollover")."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from credits.domain import money
from credits.domain.errors import Conflict, InvalidRequest
from credits.domain.grant_rules import entry, grant_context, granted_entry, parse_grant_amount
from credits.domain.records import ZERO, GrantNotice, GrantRecord, LedgerRecord

PAYMENT_FAILED_REASON = "payment failed"
INVOICE_REQUESTED = "INVOICE_REQUESTED"
PAYMENT_FAILED = "PAYMENT_FAILED"


def invoice_notice(grant: GrantRecord, now: datetime) -> GrantNotice:
    """A grant that requires payment has no GRANTED entry yet: its invoice is requested by a notice."""
    return GrantNotice(kind=INVOICE_REQUESTED, grant=grant, created_at=now)


def record_payment(grant: GrantRecord, status: str, invoice_id: str | None, now: datetime,
                   ) -> tuple[GrantRecord, list[LedgerRecord], list[GrantNotice]]:
    """PAID: the GRANTED entry is written and the grant becomes usable. FAILED: the grant is voided
    (reason `payment failed`). The same outcome again changes nothing; the other one is a 409."""
    if not grant.require_payment:
        raise Conflict("this grant does not require payment", field="grantId")
    failed = grant.voided_at is not None and grant.void_reason == PAYMENT_FAILED_REASON
    if not grant.awaiting_payment:
        if (status == "PAID" and not failed and grant.voided_at is None) or (status == "FAILED" and failed):
            return grant, [], []  # the same outcome again
        outcome = "its payment failed" if failed else ("it was voided" if grant.voided_at is not None else "it was paid")
        raise Conflict(f"{outcome} already: the payment cannot be recorded as {status}", field="status")
    if grant.voided_at is not None:
        raise Conflict("the grant was voided before its payment was recorded", field="status")
    version = grant.version + 1
    if status == "PAID":
        paid = grant.evolve(awaiting_payment=False, current_balance=grant.original_amount,
                            payment_invoice_id=invoice_id, updated_at=now, version=version)
        granted = granted_entry(paid, now)
        # Its invoice was requested when the grant was made: account.credits.granted only.
        granted = replace(granted, invoice_id=invoice_id, context={**granted.context, "invoiceAlreadyRequested": True})
        return paid, [granted], []
    voided = grant.evolve(awaiting_payment=False, voided_at=now, void_reason=PAYMENT_FAILED_REASON,
                          payment_invoice_id=invoice_id, updated_at=now, version=version)
    return voided, [], [GrantNotice(kind=PAYMENT_FAILED, grant=voided, created_at=now)]


def adjust(grant: GrantRecord, direction: str, amount_text: str, reason: str, now: datetime,
           ) -> tuple[GrantRecord, list[LedgerRecord]]:
    """An operator's correction by part of a grant: ADJUSTED_UP adds to its balance,
    ADJUSTED_DOWN takes off at most what it holds."""
    status = grant.status_at(now)
    if status in ("VOIDED", "EXPIRED"):
        raise Conflict(f"a {status.lower()} grant cannot be adjusted", field="grantId")
    if status == "AWAITING_PAYMENT":
        raise Conflict("the grant awaits payment: record the payment before adjusting it", field="grantId")
    amount = parse_grant_amount(grant, amount_text, "amount")
    if direction == "DECREASE":
        if amount > grant.current_balance:
            raise InvalidRequest(f"amount must be at most the grant's currentBalance "
                                 f"({_text(grant, grant.current_balance)})", field="amount")
        balance, kind = grant.current_balance - amount, "ADJUSTED_DOWN"
    else:
        balance, kind = grant.current_balance + amount, "ADJUSTED_UP"
        if balance > money.MAX_AMOUNT:
            raise InvalidRequest(f"the balance would exceed {money.format_units(money.MAX_AMOUNT)}", field="amount")
    updated = grant.evolve(current_balance=balance, updated_at=now, version=grant.version + 1)
    return updated, [entry(updated, kind, amount, now, reason=reason,
                           context={**grant_context(updated), "direction": direction})]


def _text(grant: GrantRecord, value: Decimal) -> str:
    return money.format_money(value, grant.currency) if grant.type == "CASH" and grant.currency else money.format_units(value)


def check_refundable(grant: GrantRecord) -> None:
    if grant.category != "PAID" or grant.cost_of_credit <= ZERO or grant.currency is None:
        raise InvalidRequest("refund is for PAID grants with costOfCredit > 0", field="refund")


def refund_amount(grant: GrantRecord, balance: Decimal) -> Decimal:
    """What the unused `balance` cost the customer: balance x costOfCredit / originalAmount,
    rounded half-even to the currency."""
    assert grant.currency is not None
    share = money.MONEY_CONTEXT.divide(money.MONEY_CONTEXT.multiply(balance, grant.cost_of_credit),
                                       grant.original_amount)
    return money.round_money(share, grant.currency)


def with_refund(grant: GrantRecord, entries: list[LedgerRecord]) -> list[LedgerRecord]:
    """Mark a refunding void's VOIDED entry: the publisher emits account.credits.refund_requested."""
    out = []
    for e in entries:
        if e.type == "VOIDED":
            refund: dict[str, Any] = {"refundAmount": money.format_money(refund_amount(grant, e.amount), grant.currency),
                                      "currency": grant.currency, "taxRateId": grant.tax_rate_id,
                                      "taxRate": dict(grant.tax_rate) if grant.tax_rate else None}
            e = replace(e, context={**e.context, "refund": refund})
        out.append(e)
    return out
