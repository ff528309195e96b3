"""Grant rules (pure): what a create request makes, what a patch, a void or an expiry changes,
and the ledger entries each writes. No storage, no HTTP."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from credits.domain import money
from credits.domain.clock import expiry_instant, start_of_day, to_iso
from credits.domain.errors import Conflict, InvalidRequest
from credits.domain.ids import new_entry_id, new_grant_id
from credits.domain.records import ZERO, GrantRecord, LedgerRecord
from credits.models.api import CreateGrantRequest, UpdateGrantRequest


def _parse_amount_for(type_: str, currency: str | None, value: str, field: str, *, allow_zero: bool = False) -> Decimal:
    try:
        if type_ == "CASH":
            assert currency is not None
            return money.parse_money(value, currency, field=field, allow_zero=allow_zero)
        return money.parse_units(value, field=field, allow_zero=allow_zero)
    except ValueError as exc:
        raise InvalidRequest(str(exc), field=field) from None


def parse_grant_amount(grant: GrantRecord, value: str, field: str) -> Decimal:
    """An amount in a grant's own unit: money of its currency (CASH) or units (USAGE)."""
    return _parse_amount_for(grant.type, grant.currency, value, field)


def _money(value: str, currency: str, field: str, *, allow_zero: bool = False) -> Decimal:
    try:
        return money.parse_money(value, currency, field=field, allow_zero=allow_zero)
    except ValueError as exc:
        raise InvalidRequest(str(exc), field=field) from None


def _currency(value: str | None, field: str = "currency") -> str | None:
    if value is None:
        return None
    code = value.upper()
    if not money.is_supported_currency(code):
        raise InvalidRequest(f"{field} {value!r} is not a supported ISO 4217 currency", field=field)
    return code


def effective_instant(effective_date, effective_at, now: datetime) -> datetime:
    if effective_date is not None and effective_at is not None:
        raise InvalidRequest("give effectiveDate or effectiveAt, not both", field="effectiveAt")
    if effective_date is not None:
        return start_of_day(effective_date)
    return effective_at or now


def expiry_of(expiry_date, expires_at) -> datetime | None:
    if expiry_date is not None and expires_at is not None:
        raise InvalidRequest("give expiryDate or expiresAt, not both", field="expiresAt")
    if expiry_date is not None:
        return expiry_instant(expiry_date)
    return expires_at


def check_expiry(expires_at: datetime | None, effective_at: datetime, now: datetime, field: str) -> None:
    if expires_at is None:
        return
    if expires_at <= now:
        raise InvalidRequest(f"{field} must be in the future", field=field)
    if expires_at <= effective_at:
        raise InvalidRequest(f"{field} must be after the effective instant", field=field)


def build_grant(account_id: str, body: CreateGrantRequest, now: datetime, *, schedule_id: str | None = None,
                grant_id: str | None = None, allow_past_expiry: bool = False) -> GrantRecord:
    """Validate a create request against the currency, type and cost rules; return the new grant."""
    currency = _currency(body.currency)
    if body.type == "CASH":
        if currency is None:
            raise InvalidRequest("currency is required for CASH grants", field="currency")
        if body.metricId is not None:
            raise InvalidRequest("metricId is not allowed for CASH grants (use applicability)", field="metricId")
        if body.pricePerUnit is not None:
            raise InvalidRequest("pricePerUnit is only for USAGE grants", field="pricePerUnit")
        amount = _parse_amount_for("CASH", currency, body.amount, "amount")
        if body.category == "PROMOTIONAL":
            cost = _money(body.costOfCredit, currency, "costOfCredit", allow_zero=True) if body.costOfCredit is not None else ZERO
            if cost != ZERO:
                raise InvalidRequest("costOfCredit must be \"0\" for PROMOTIONAL grants", field="costOfCredit")
        else:
            cost = _money(body.costOfCredit, currency, "costOfCredit", allow_zero=True) if body.costOfCredit is not None else amount
        price = None
        applicable = tuple(dict.fromkeys(body.applicability.metricIds)) if body.applicability else None
    else:
        if body.metricId is None:
            raise InvalidRequest("metricId is required for USAGE grants", field="metricId")
        if body.applicability is not None:
            raise InvalidRequest("applicability is only for CASH grants", field="applicability")
        amount = _parse_amount_for("USAGE", None, body.amount, "amount")
        applicable = None
        cost, price = _usage_cost(body, amount, currency)
    effective_at = effective_instant(body.effectiveDate, body.effectiveAt, now)
    expires_at = expiry_of(body.expiryDate, body.expiresAt)
    field = "expiryDate" if body.expiryDate is not None else "expiresAt"
    if expires_at is not None and expires_at <= effective_at:
        raise InvalidRequest(f"{field} must be after the effective instant", field=field)
    if not allow_past_expiry:
        check_expiry(expires_at, effective_at, now, field)
    if body.requirePayment and (body.category != "PAID" or cost <= ZERO):
        raise InvalidRequest("requirePayment is for PAID grants with costOfCredit > 0", field="requirePayment")
    gated = body.requirePayment
    return GrantRecord(
        id=grant_id or new_grant_id(), account_id=account_id, customer_id=body.customerId, name=body.name,
        type=body.type, currency=currency, metric_id=body.metricId, original_amount=amount,
        current_balance=ZERO if gated else amount, pending_amount=ZERO, cost_of_credit=cost, price_per_unit=price,
        category=body.category, priority=body.priority, tax_rate_id=body.taxRateId,
        effective_at=effective_at, expires_at=expires_at, reason=body.reason, metadata=dict(body.metadata),
        applicable_metric_ids=applicable, invoice_requested=body.generateInvoice or gated, schedule_id=schedule_id,
        created_at=now, updated_at=now, amount_scale=len(body.amount.partition(".")[2]),
        awaiting_payment=gated, require_payment=gated,
    )


def _usage_cost(body: CreateGrantRequest, amount: Decimal, currency: str | None) -> tuple[Decimal, Decimal]:
    """costOfCredit <-> pricePerUnit for USAGE grants (either computes the other)."""
    if body.costOfCredit is None and body.pricePerUnit is None:
        return ZERO, ZERO
    if currency is None:
        field = "costOfCredit" if body.costOfCredit is not None else "pricePerUnit"
        raise InvalidRequest(f"currency is required when {field} is given", field="currency")
    cost = _money(body.costOfCredit, currency, "costOfCredit", allow_zero=True) if body.costOfCredit is not None else None
    price = None
    if body.pricePerUnit is not None:
        try:
            price = money.parse_price(body.pricePerUnit, field="pricePerUnit", allow_zero=True)
        except ValueError as exc:
            raise InvalidRequest(str(exc), field="pricePerUnit") from None
    derived_price = money.round_places(cost / amount, money.PRICE_PLACES) if cost is not None else None
    derived_cost = money.round_money(price * amount, currency) if price is not None else None
    if cost is not None and price is not None:
        if derived_cost != cost and derived_price != price:
            raise InvalidRequest("costOfCredit and pricePerUnit disagree: pricePerUnit x amount must round to costOfCredit",
                                 field="pricePerUnit")
        return cost, price
    if cost is not None:
        return cost, derived_price  # type: ignore[return-value]
    return derived_cost, price  # type: ignore[return-value]


def entry(grant: GrantRecord, type_: str, amount: Decimal, now: datetime, **extra: Any) -> LedgerRecord:
    # A test clock's entries are ordered by its time, as its customer's history happened.
    return LedgerRecord(id=new_entry_id(now if grant.test_clock_id else None), account_id=grant.account_id,
                        customer_id=grant.customer_id, grant_id=grant.id, type=type_, amount=amount,
                        balance_after=grant.current_balance, created_at=now, test_clock_id=grant.test_clock_id,
                        **extra)


def grant_context(grant: GrantRecord) -> dict[str, Any]:
    """What every event about a grant needs to say, carried on its ledger entries."""
    return {"grantType": grant.type, "currency": grant.currency, "metricId": grant.metric_id, "name": grant.name,
            "customerId": grant.customer_id, "pricePerUnit": grant.price_per_unit,
            "amountScale": grant.amount_scale}


def patch_grant(grant: GrantRecord, body: UpdateGrantRequest, now: datetime) -> tuple[GrantRecord, list[LedgerRecord]]:
    status = grant.status_at(now)
    if status in ("VOIDED", "EXPIRED"):
        raise Conflict(f"a {status.lower()} grant cannot be changed")
    fields = body.model_fields_set
    changes: dict[str, Any] = {}
    for name, attr in (("name", "name"), ("priority", "priority")):
        if name in fields:
            if getattr(body, name) is None:
                raise InvalidRequest(f"{name} cannot be null", field=name)
            changes[attr] = getattr(body, name)
    if "metadata" in fields:
        changes["metadata"] = dict(body.metadata or {})
    entries: list[LedgerRecord] = []
    if "expiryDate" in fields or "expiresAt" in fields:
        if "expiryDate" in fields and "expiresAt" in fields:
            raise InvalidRequest("give expiryDate or expiresAt, not both", field="expiresAt")
        field = "expiryDate" if "expiryDate" in fields else "expiresAt"
        new_expiry = expiry_of(body.expiryDate, body.expiresAt)
        check_expiry(new_expiry, grant.effective_at, now, field)
        if new_expiry != grant.expires_at:
            changes["expires_at"] = new_expiry
            changes["expiring_notice_sent"] = False
    if not changes:
        return grant, []
    updated = grant.evolve(**changes, updated_at=now, version=grant.version + 1)
    if "expires_at" in changes:
        note = f"expiresAt {to_iso(grant.expires_at) or 'never'} -> {to_iso(updated.expires_at) or 'never'}"
        entries.append(entry(updated, "EXPIRY_CHANGED", updated.current_balance, now, reason=note,
                             context={**grant_context(updated), "expiresAt": to_iso(updated.expires_at)}))
    return updated, entries


def void_grant(grant: GrantRecord, reason: str, now: datetime) -> tuple[GrantRecord, list[LedgerRecord]]:
    if grant.voided_at is not None:
        return grant, []
    if grant.status_at(now) == "EXPIRED":
        raise Conflict("the grant has expired; there is nothing left to void")
    removed = grant.current_balance
    updated = grant.evolve(current_balance=ZERO, voided_at=now, void_reason=reason, updated_at=now,
                           version=grant.version + 1)
    # Ledger amounts are positive: a grant with nothing left is marked voided without an entry.
    if removed <= ZERO:
        return updated, []
    return updated, [entry(updated, "VOIDED", removed, now, reason=reason, context=grant_context(updated))]


def expire_grant(grant: GrantRecord, now: datetime, *, reason: str | None = None) -> tuple[GrantRecord, list[LedgerRecord]]:
    """Write off what is left of a grant that is past its expiry (or is expired now on request)."""
    if grant.voided_at is not None or grant.expired_at is not None:
        return grant, []
    removed = grant.current_balance
    updated = grant.evolve(current_balance=ZERO, expired_at=now, updated_at=now, version=grant.version + 1,
                           expires_at=grant.expires_at if grant.expires_at and grant.expires_at <= now else now)
    if removed <= ZERO:
        return updated, []
    return updated, [entry(updated, "EXPIRED", removed, now, reason=reason, context=grant_context(updated))]


def granted_entry(grant: GrantRecord, now: datetime) -> LedgerRecord:
    """The GRANTED entry; it carries the grant as created, which account.credits.granted shows."""
    granted = entry(grant, "GRANTED", grant.original_amount, now, reason=grant.reason, context=grant_context(grant))
    return replace(granted, grant=grant)
