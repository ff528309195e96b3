"""Explicit mapping between domain records and DynamoDB items (plain Python values;
dynamo.py converts to and from the wire format)."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from credits.domain.burndown import Allocation
from credits.domain.clock import from_iso, to_iso
from credits.domain.records import (
    ApplicationRecord,
    CustomerEntry,
    GrantRecord,
    LedgerRecord,
    TaxRateRecord,
    TestClockRecord,
)
from credits.store import keys


def _drop_none(item: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in item.items() if v is not None}


def grant_attributes(grant: GrantRecord) -> dict[str, Any]:
    """The grant's own attributes, without keys (also what a GRANTED entry keeps of its grant)."""
    return _drop_none({
        "id": grant.id,
        "accountId": grant.account_id,
        "customerId": grant.customer_id,
        "name": grant.name,
        "grantType": grant.type,
        "currency": grant.currency,
        "metricId": grant.metric_id,
        "originalAmount": grant.original_amount,
        "currentBalance": grant.current_balance,
        "pendingAmount": grant.pending_amount,
        "costOfCredit": grant.cost_of_credit,
        "pricePerUnit": grant.price_per_unit,
        "category": grant.category,
        "priority": grant.priority,
        "taxRateId": grant.tax_rate_id,
        "taxRate": dict(grant.tax_rate) if grant.tax_rate is not None else None,
        "effectiveAt": to_iso(grant.effective_at),
        "expiresAt": to_iso(grant.expires_at),
        "reason": grant.reason,
        "metadata": dict(grant.metadata),
        "applicableMetricIds": list(grant.applicable_metric_ids) if grant.applicable_metric_ids is not None else None,
        "invoiceRequested": grant.invoice_requested,
        "scheduleId": grant.schedule_id,
        "createdAt": to_iso(grant.created_at),
        "updatedAt": to_iso(grant.updated_at),
        "voidedAt": to_iso(grant.voided_at),
        "voidReason": grant.void_reason,
        "expiredAt": to_iso(grant.expired_at),
        "everApplied": grant.ever_applied,
        "expiringNoticeSent": grant.expiring_notice_sent,
        "version": grant.version,
        "amountScale": grant.amount_scale,
        "testClockId": grant.test_clock_id,
    })


def grant_to_item(grant: GrantRecord, *, notice_lead: timedelta) -> dict[str, Any]:
    item: dict[str, Any] = {
        "PK": keys.customer_pk(grant.account_id, grant.customer_id),
        "SK": keys.grant_sk(grant.id),
        "entity": "GRANT",
        **grant_attributes(grant),
        "GSI1PK": keys.account_grants_gsi1pk(grant.account_id),
        "GSI1SK": grant.id,
    }
    # Sparse burn-down index: only grants that may still be spent (usable now or later).
    if grant.holds_spendable_balance:
        item["LSI1SK"] = keys.burn_order_sk(grant.type, grant.balance_scope, grant.priority, to_iso(grant.expires_at),
                                            grant.category == "PROMOTIONAL", to_iso(grant.effective_at),
                                            to_iso(grant.created_at), grant.id)
    # Sparse work queues: only grants that still hold a balance and will expire are in them.
    holds_expiring_balance = grant.expires_at is not None and grant.holds_spendable_balance
    if holds_expiring_balance:
        shard = keys.shard_of(grant.id)
        clock = grant.test_clock_id  # a test clock's grants wait in its own queues, not the sweep's
        item["GSI2PK"] = keys.clock_queue_pk(clock, "EXPIRY") if clock else keys.expiry_gsi2pk(shard)
        item["GSI2SK"] = keys.due_sk(to_iso(grant.expires_at), grant.id)
        if not grant.expiring_notice_sent:
            item["GSI3PK"] = keys.clock_queue_pk(clock, "NOTICE") if clock else keys.notice_gsi3pk(shard)
            item["GSI3SK"] = keys.due_sk(to_iso(grant.expires_at - notice_lead), grant.id)
    return _drop_none(item)


def item_to_grant(item: dict[str, Any]) -> GrantRecord:
    applicable = item.get("applicableMetricIds")
    return GrantRecord(
        id=item["id"],
        account_id=item["accountId"],
        customer_id=item["customerId"],
        name=item["name"],
        type=item["grantType"],
        currency=item.get("currency"),
        metric_id=item.get("metricId"),
        original_amount=Decimal(item["originalAmount"]),
        current_balance=Decimal(item["currentBalance"]),
        pending_amount=Decimal(item["pendingAmount"]),
        cost_of_credit=Decimal(item["costOfCredit"]),
        price_per_unit=Decimal(item["pricePerUnit"]) if item.get("pricePerUnit") is not None else None,
        category=item["category"],
        priority=int(item["priority"]),
        tax_rate_id=item.get("taxRateId"),
        tax_rate=dict(item["taxRate"]) if item.get("taxRate") else None,
        effective_at=_dt(item["effectiveAt"]),
        expires_at=from_iso(item.get("expiresAt")),
        reason=item.get("reason"),
        metadata=dict(item.get("metadata") or {}),
        applicable_metric_ids=tuple(applicable) if applicable is not None else None,
        invoice_requested=bool(item.get("invoiceRequested", False)),
        schedule_id=item.get("scheduleId"),
        created_at=_dt(item["createdAt"]),
        updated_at=_dt(item["updatedAt"]),
        voided_at=from_iso(item.get("voidedAt")),
        void_reason=item.get("voidReason"),
        expired_at=from_iso(item.get("expiredAt")),
        ever_applied=bool(item.get("everApplied", False)),
        expiring_notice_sent=bool(item.get("expiringNoticeSent", False)),
        version=int(item.get("version", 0)),
        amount_scale=int(item["amountScale"]) if item.get("amountScale") is not None else None,
        test_clock_id=item.get("testClockId"),
    )


def _dt(value: str) -> datetime:
    parsed = from_iso(value)
    assert parsed is not None
    return parsed


def entry_to_item(entry: LedgerRecord) -> dict[str, Any]:
    return _drop_none(
        {
            "PK": keys.customer_pk(entry.account_id, entry.customer_id),
            "SK": keys.ledger_sk(entry.id),
            "entity": "LEDGER",
            "id": entry.id,
            "accountId": entry.account_id,
            "customerId": entry.customer_id,
            "grantId": entry.grant_id,
            "entryType": entry.type,
            "amount": entry.amount,
            "balanceAfter": entry.balance_after,
            "invoiceId": entry.invoice_id,
            "lineId": entry.line_id,
            "reason": entry.reason,
            "createdAt": to_iso(entry.created_at),
            "context": entry.context or None,
            "grant": grant_attributes(entry.grant) if entry.grant is not None else None,
            "testClockId": entry.test_clock_id,
            "GSI1PK": keys.account_ledger_gsi1pk(entry.account_id),
            "GSI1SK": entry.id,
        }
    )


def item_to_entry(item: dict[str, Any]) -> LedgerRecord:
    return LedgerRecord(
        id=item["id"],
        account_id=item["accountId"],
        customer_id=item["customerId"],
        grant_id=item["grantId"],
        type=item["entryType"],
        amount=Decimal(item["amount"]),
        balance_after=Decimal(item["balanceAfter"]),
        created_at=_dt(item["createdAt"]),
        invoice_id=item.get("invoiceId"),
        reason=item.get("reason"),
        line_id=item.get("lineId"),
        context=dict(item.get("context") or {}),
        grant=item_to_grant(item["grant"]) if item.get("grant") else None,
        test_clock_id=item.get("testClockId"),
    )


def application_to_item(app: ApplicationRecord) -> dict[str, Any]:
    unfinished = app.status in keys.UNFINISHED_STATUSES
    key = keys.application_key(app.account_id, app.invoice_id)
    return _drop_none({
        **key,
        # Sparse: only while a chunked write is under way (the scheduled run finishes it).
        "GSI2PK": keys.unfinished_gsi2pk(keys.shard_of(key["PK"])) if unfinished else None,
        "GSI2SK": keys.due_sk(to_iso(app.updated_at), key["PK"]) if unfinished else None,
        "entity": "APPLICATION",
        "invoiceId": app.invoice_id,
        "accountId": app.account_id,
        "customerId": app.customer_id,
        "currency": app.currency,
        "applicationStatus": app.status,
        "requestHash": app.request_hash,
        "settleRequested": app.settle_requested,
        "lines": [_drop_none(line) for line in app.lines],
        "allocations": [_drop_none({"grantId": a.grant_id, "type": a.type, "lineId": a.line_id,
                                    "units": a.units, "value": a.value}) for a in app.allocations],
        "createdAt": to_iso(app.created_at),
        "updatedAt": to_iso(app.updated_at),
        "version": app.version,
        "transitionFrom": app.transition_from,
        "doneGrantIds": list(app.done_grant_ids) or None,
        "createdBy": app.created_by,
    })


def item_to_application(item: dict[str, Any]) -> ApplicationRecord:
    return ApplicationRecord(
        invoice_id=item["invoiceId"], account_id=item["accountId"], customer_id=item["customerId"],
        currency=item["currency"], status=item["applicationStatus"], request_hash=item["requestHash"],
        settle_requested=bool(item.get("settleRequested", False)),
        lines=[{k: (str(v) if isinstance(v, Decimal) else v) for k, v in line.items()} for line in item.get("lines", [])],
        allocations=tuple(Allocation(grant_id=a["grantId"], type=a["type"], line_id=a["lineId"],
                                     units=Decimal(a["units"]) if a.get("units") is not None else None,
                                     value=Decimal(a["value"])) for a in item.get("allocations", [])),
        created_at=_dt(item["createdAt"]), updated_at=_dt(item["updatedAt"]), version=int(item.get("version", 0)),
        transition_from=item.get("transitionFrom"), done_grant_ids=tuple(item.get("doneGrantIds") or ()),
        created_by=item.get("createdBy"),
    )


def is_ledger_item(item: dict[str, Any]) -> bool:
    return item.get("entity") == "LEDGER"


def item_to_customer_entry(item: dict[str, Any]) -> CustomerEntry:
    return CustomerEntry(account_id=item["accountId"], customer_id=item["customerId"],
                         last_activity_at=_dt(item["lastActivityAt"]))


# Record field -> item attribute of a tax rate (what PATCH /tax-rates/{id} may change, and more).
TAX_RATE_ATTRIBUTES = {"name": "name", "active": "active", "updated_at": "updatedAt"}


def tax_rate_to_item(rate: TaxRateRecord) -> dict[str, Any]:
    return {
        **keys.tax_rate_key(rate.account_id, rate.id),
        "entity": "TAXRATE",
        "id": rate.id,
        "accountId": rate.account_id,
        "name": rate.name,
        "percentage": rate.percentage,
        "inclusive": rate.inclusive,
        "active": rate.active,
        "createdAt": to_iso(rate.created_at),
        "updatedAt": to_iso(rate.updated_at),
        "GSI1PK": keys.account_tax_rates_gsi1pk(rate.account_id),
        "GSI1SK": rate.id,
    }


def item_to_tax_rate(item: dict[str, Any]) -> TaxRateRecord:
    return TaxRateRecord(id=item["id"], account_id=item["accountId"], name=item["name"],
                         percentage=item["percentage"], inclusive=bool(item["inclusive"]),
                         active=bool(item["active"]), created_at=_dt(item["createdAt"]),
                         updated_at=_dt(item["updatedAt"]))


def test_clock_to_item(clock: TestClockRecord) -> dict[str, Any]:
    at_work = clock.status in ("ADVANCING", "DELETING")
    return _drop_none({
        **keys.test_clock_key(clock.account_id, clock.id),
        "entity": "TEST_CLOCK",
        "id": clock.id,
        "accountId": clock.account_id,
        "name": clock.name,
        "frozenTime": to_iso(clock.frozen_time),
        "clockStatus": clock.status,
        "targetTime": to_iso(clock.target_time),
        "leaseUntil": to_iso(clock.lease_until),
        "createdAt": to_iso(clock.created_at),
        "updatedAt": to_iso(clock.updated_at),
        "version": clock.version,
        "GSI1PK": keys.account_test_clocks_gsi1pk(clock.account_id),
        "GSI1SK": clock.id,
        # Sparse: a clock at work, by when its worker's lease ends (the scheduled run resumes it).
        "GSI2PK": keys.clocks_at_work_gsi2pk() if at_work else None,
        "GSI2SK": keys.due_sk(to_iso(clock.lease_until or clock.updated_at), f"{clock.account_id}#{clock.id}")
        if at_work else None,
    })


def item_to_test_clock(item: dict[str, Any]) -> TestClockRecord:
    return TestClockRecord(
        id=item["id"], account_id=item["accountId"], name=item["name"], frozen_time=_dt(item["frozenTime"]),
        status=item["clockStatus"], created_at=_dt(item["createdAt"]), updated_at=_dt(item["updatedAt"]),
        target_time=from_iso(item.get("targetTime")), lease_until=from_iso(item.get("leaseUntil")),
        version=int(item.get("version", 0)),
    )
