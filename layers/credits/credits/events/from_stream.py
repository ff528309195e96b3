"""Table stream record -> the events it publishes: the record's image is read back into a
store record (store/items.py), and committed ledger entries and notice items become the
contract's events (models/events.py). Events come from committed writes only (README "Events"),
so this never looks at grants: the entry carries what each event needs."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord

from credits.api.views import amount_text, grant_view
from credits.domain.records import LedgerRecord
from credits.models.api import Grant
from credits.models.events import (
    ADJUSTED,
    APPLIED,
    BALANCE_DEPLETED,
    EXPIRED,
    EXPIRING_SOON,
    GRANTED,
    INVOICE_REQUESTED,
    REFUND_REQUESTED,
    RELEASED,
    TOPPED_UP,
    VOIDED,
    AdjustedData,
    AdjustedEvent,
    AppliedData,
    AppliedEvent,
    BalanceDepletedData,
    BalanceDepletedEvent,
    BaseEvent,
    ExpiredData,
    ExpiredEvent,
    ExpiringSoonData,
    ExpiringSoonEvent,
    GrantedData,
    GrantedEvent,
    InvoiceRequestedData,
    InvoiceRequestedEvent,
    RefundRequestedData,
    RefundRequestedEvent,
    ReleasedData,
    ReleasedEvent,
    ToppedUpData,
    ToppedUpEvent,
    VoidedData,
    VoidedEvent,
    event_id,
)
from credits.domain.clock import from_iso
from credits.domain.paid_rules import INVOICE_REQUESTED as INVOICE_REQUESTED_NOTICE
from credits.domain.paid_rules import PAYMENT_FAILED as PAYMENT_FAILED_NOTICE
from credits.store.items import actor_of, item_to_entry, item_to_grant

# ====================================================================== stream record → events


def inserted_image(record: Any) -> dict[str, Any] | None:
    """The new item of a stream record that INSERTed one (plain Python values), else None.
    `record` is the Lambda stream record as a dict, or a Powertools DynamoDBRecord."""
    raw = record.raw_event if isinstance(record, DynamoDBRecord) else record
    if raw.get("eventName") != "INSERT":
        return None
    return changed_images(raw)[1] or {}


def changed_images(record: Any) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """(old item, new item) of a stream record, plain Python values; None where there is none
    (an INSERT has no old item, a REMOVE no new one)."""
    raw = record.raw_event if isinstance(record, DynamoDBRecord) else record
    data = raw.get("dynamodb") or {}
    images = []
    for name in ("OldImage", "NewImage"):
        image = data.get(name)
        images.append(DynamoDBRecord({"dynamodb": {"NewImage": _repair_image(image)}}).dynamodb.new_image  # type: ignore[union-attr]
                      if image else None)
    return images[0], images[1]


def events_from_stream_record(record: Any) -> list[BaseEvent]:
    """The events a table stream record publishes: an INSERT of a ledger entry or a notice item;
    every other record (grant updates, applications, idempotency, TTL deletions…) publishes none."""
    return events_from_image(inserted_image(record))


def events_from_image(image: dict[str, Any] | None) -> list[BaseEvent]:
    """The events of an inserted item (`inserted_image`): a ledger entry or a notice item."""
    entity = (image or {}).get("entity")
    if entity == "LEDGER":
        return events_from_ledger_item(image)
    if entity == "NOTICE":
        return events_from_notice_item(image)
    return []


def ledger_entries_in(image: dict[str, Any] | None) -> list[LedgerRecord]:
    """The committed ledger entry an inserted item is, as a record (none for other items)."""
    return [item_to_entry(image)] if image and image.get("entity") == "LEDGER" else []


def _repair(value: Any) -> Any:
    """DynamoDB Local's stream writes an empty map as `{}` instead of `{"M": {}}` (seen with
    3.3.0); read it as the empty map it is, so the same code serves AWS and the local stack."""
    if not isinstance(value, dict) or not value:
        return {"M": {}}
    (kind, inner), = value.items()
    if kind == "M":
        return {"M": {k: _repair(v) for k, v in inner.items()}}
    if kind == "L":
        return {"L": [_repair(v) for v in inner]}
    return value


def _repair_image(image: dict[str, Any]) -> dict[str, Any]:
    return {k: _repair(v) for k, v in image.items()}


def _amount(value: Any, grant_type: str, currency: str | None) -> str:
    return amount_text(Decimal(value), grant_type, currency)


def _granted(entry: LedgerRecord, ctx: dict[str, Any]) -> Grant:
    """The grant as created. Entries written before the grant was kept as a record carry its
    API view in their context (a stream record lives 24 h: read both while they may arrive)."""
    if entry.grant is not None:
        return grant_view(entry.grant, entry.created_at)
    return Grant.model_validate(ctx["grant"])


def events_from_ledger_item(item: dict[str, Any]) -> list[BaseEvent]:
    entry = item_to_entry(item)
    ctx = entry.context
    kind = entry.type
    grant_type, currency = ctx.get("grantType", "CASH"), ctx.get("currency")
    pk, sk = item["PK"], item["SK"]
    base = {"accountId": entry.account_id, "customerId": entry.customer_id, "grantId": entry.grant_id,
            "occurredAt": item["createdAt"], "actor": entry.actor, "testClockId": entry.test_clock_id}
    amounts = {"type": grant_type, "currency": currency, "metricId": ctx.get("metricId"), "name": ctx.get("name", ""),
               "amount": amount_text(entry.amount, grant_type, currency),
               "balanceAfter": amount_text(entry.balance_after, grant_type, currency)}
    line = {"invoiceId": entry.invoice_id, "lineId": entry.line_id}
    events: list[BaseEvent] = []
    if kind == "GRANTED":
        grant = _granted(entry, ctx)
        events.append(GrantedEvent(id=event_id(pk, sk, GRANTED), **base, data=GrantedData(grant=grant)))
        if grant.topUpRuleId:
            events.append(ToppedUpEvent(id=event_id(pk, sk, TOPPED_UP), **base,
                                        data=ToppedUpData(topUpRuleId=grant.topUpRuleId, grant=grant)))
        # A paid grant's invoice was requested when it was made (its notice), not again now.
        if grant.invoiceRequested and not ctx.get("invoiceAlreadyRequested"):
            events.append(_invoice_requested(event_id(pk, sk, INVOICE_REQUESTED), base, grant))
    elif kind == "VOIDED":
        events.append(VoidedEvent(id=event_id(pk, sk, VOIDED), **base,
                                  data=VoidedData(**amounts, reason=entry.reason, invoiceId=entry.invoice_id)))
        refund = ctx.get("refund")
        if refund:
            events.append(RefundRequestedEvent(id=event_id(pk, sk, REFUND_REQUESTED), **base, data=RefundRequestedData(
                refundAmount=refund["refundAmount"], currency=refund["currency"], taxRateId=refund.get("taxRateId"),
                taxRate=refund.get("taxRate"), type=grant_type, metricId=ctx.get("metricId"), name=ctx.get("name", ""),
                voidedAmount=amounts["amount"], reason=entry.reason)))
    elif kind in ("ADJUSTED_UP", "ADJUSTED_DOWN"):
        events.append(AdjustedEvent(id=event_id(pk, sk, ADJUSTED), **base, data=AdjustedData(
            **amounts, direction="INCREASE" if kind == "ADJUSTED_UP" else "DECREASE", reason=entry.reason)))
    elif kind == "EXPIRED":
        events.append(ExpiredEvent(id=event_id(pk, sk, EXPIRED), **base,
                                   data=ExpiredData(**amounts, invoiceId=entry.invoice_id)))
    elif kind == "APPLIED":
        events.append(AppliedEvent(id=event_id(pk, sk, APPLIED), **base, data=AppliedData(**amounts, **line)))
    elif kind == "RELEASED":
        events.append(ReleasedEvent(id=event_id(pk, sk, RELEASED), **base, data=ReleasedData(**amounts, **line)))
    depleted = ctx.get("balanceDepleted")
    if depleted and kind in ("APPLIED", "VOIDED", "EXPIRED", "ADJUSTED_DOWN", "CONSUMED"):
        # The write that took the customer's available balance (currency / metric) to zero.
        events.append(BalanceDepletedEvent(
            id=event_id(pk, sk, BALANCE_DEPLETED), **{**base, "grantId": None},
            data=BalanceDepletedData(type=depleted["type"], currency=depleted.get("currency"),
                                     metricId=depleted.get("metricId"), invoiceId=entry.invoice_id)))
    # SETTLED, EXPIRY_CHANGED, DELETED, ROLLED_OVER (the rollover grant's GRANTED entry and the
    # rest's EXPIRED entry say it), CONSUMED (the balance events do): no event of their own.
    return events


def _invoice_requested(id_: str, base: dict[str, Any], grant: Grant) -> BaseEvent:
    return InvoiceRequestedEvent(id=id_, **base, data=InvoiceRequestedData(
        costOfCredit=grant.costOfCredit, currency=grant.currency, taxRateId=grant.taxRateId, taxRate=grant.taxRate,
        name=grant.name, type=grant.type, originalAmount=grant.originalAmount, metricId=grant.metricId))


def events_from_grant_notice(item: dict[str, Any]) -> list[BaseEvent]:
    """A grant notice (store/items.grant_notice_to_item): the invoice of a grant that requires
    payment, or the void of one whose payment failed."""
    record = item_to_grant(item["grant"])
    grant = grant_view(record, from_iso(item["createdAt"]) or record.updated_at)
    base = {"accountId": item["accountId"], "customerId": item["customerId"], "grantId": item["grantId"],
            "occurredAt": item["createdAt"], "actor": actor_of(item),
            "testClockId": (item.get("grant") or {}).get("testClockId")}
    if item["kind"] == INVOICE_REQUESTED_NOTICE:
        return [_invoice_requested(event_id(item["PK"], item["SK"], INVOICE_REQUESTED), base, grant)]
    zero = amount_text(Decimal(0), record.type, record.currency)
    return [VoidedEvent(id=event_id(item["PK"], item["SK"], VOIDED), **base, data=VoidedData(
        type=record.type, currency=record.currency, metricId=record.metric_id, name=record.name, amount=zero,
        balanceAfter=zero, reason=record.void_reason, invoiceId=record.payment_invoice_id))]


def events_from_notice_item(item: dict[str, Any]) -> list[BaseEvent]:
    if item.get("kind") in (INVOICE_REQUESTED_NOTICE, PAYMENT_FAILED_NOTICE):
        return events_from_grant_notice(item)
    if item.get("kind") == "BALANCE_DEPLETED":
        # Written by the expiry sweep when its EXPIRED entries emptied a balance.
        return [BalanceDepletedEvent(
            id=event_id(item["PK"], item["SK"], BALANCE_DEPLETED), accountId=item["accountId"],
            customerId=item["customerId"], grantId=None, occurredAt=item["createdAt"], actor=actor_of(item),
            testClockId=item.get("testClockId"), data=BalanceDepletedData(type=item["grantType"], currency=item.get("currency"),
                                     metricId=item.get("metricId"), invoiceId=None))]
    if item.get("kind") != "EXPIRING_SOON":
        return []
    grant_type, currency = item["grantType"], item.get("currency")
    return [ExpiringSoonEvent(
        id=event_id(item["PK"], item["SK"], EXPIRING_SOON), accountId=item["accountId"],
        customerId=item["customerId"], grantId=item["grantId"], occurredAt=item["createdAt"], actor=actor_of(item),
        testClockId=item.get("testClockId"), data=ExpiringSoonData(type=grant_type, currency=currency, metricId=item.get("metricId"), name=item["name"],
                              expiresAt=item["expiresAt"], expiryDate=item["expiryDate"],
                              currentBalance=_amount(item["currentBalance"], grant_type, currency)))]
