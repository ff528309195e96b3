"""Sample table items and stream records, one for every event type (tests and docs/events.md)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from credits.domain.grant_rules import build_grant, entry, grant_context, granted_entry, void_grant
from credits.domain.paid_rules import adjust, invoice_notice, record_payment, with_refund
from credits.domain.records import GrantRecord, LedgerRecord
from credits.models.api import CreateGrantRequest
from credits.store import items as mapping
from credits.store.client import to_wire

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
LEAD = timedelta(days=7)


def grant(**body: Any) -> GrantRecord:
    grant_id = body.pop("id", "cg_01JNKZ8X0000000000000000AA")
    fields = {"customerId": "cus_42", "name": "On-boarding credits", "type": "CASH", "amount": "50.00",
              "currency": "USD", "expiresAt": "2026-03-31T12:00:00Z"}
    fields.update(body)
    return build_grant("acct_a", CreateGrantRequest.model_validate(fields), T0, grant_id=grant_id)


def fixed(record: LedgerRecord, entry_id: str) -> LedgerRecord:
    from dataclasses import replace

    return replace(record, id=entry_id)


def ledger_items() -> dict[str, dict[str, Any]]:
    """One ledger item per entry type that publishes, keyed by a label."""
    g = grant(generateInvoice=True, taxRateId="txr_vat20")
    usage = grant(id="cg_01JNKZ8X0000000000000000BB", type="USAGE", amount="10000", metricId="api_calls",
                  pricePerUnit="0.001", currency="USD")
    later = T0 + timedelta(days=2)
    applied_g = g.evolve(current_balance=Decimal("0"), pending_amount=Decimal("50"))
    applied = entry(applied_g, "APPLIED", Decimal("50"), later, invoice_id="inv_1001", line_id="l2",
                    context={**grant_context(g), "balanceDepleted": {"type": "CASH", "currency": "USD", "metricId": None}})
    usage_applied = entry(usage.evolve(current_balance=Decimal("8000")), "APPLIED", Decimal("2000"), later,
                          invoice_id="inv_1001", line_id="l1", context=grant_context(usage))
    released = entry(g.evolve(current_balance=Decimal("50")), "RELEASED", Decimal("50"), later + timedelta(hours=1),
                     invoice_id="inv_1001", line_id="l2", context=grant_context(g))
    voided = entry(g.evolve(current_balance=Decimal("0")), "VOIDED", Decimal("50"), later + timedelta(days=1),
                   reason="customer churned", context=grant_context(g))
    expired = entry(usage.evolve(current_balance=Decimal("0")), "EXPIRED", Decimal("8000"), T0 + timedelta(days=30),
                    context=grant_context(usage))
    settled = entry(applied_g, "SETTLED", Decimal("50"), later, invoice_id="inv_1001", context=grant_context(g))
    adjusted = adjust(g, "INCREASE", "5.00", "goodwill", later)[1][0]
    paid = grant(id="cg_01JNKZ8X0000000000000000CC", costOfCredit="40.00")
    refunded = with_refund(paid, void_grant(paid, "customer left", later)[1])[0]
    records = {
        "granted": fixed(granted_entry(g, T0), "cbtxn_01JNKZ8X00000000000000001A"),
        "applied": fixed(applied, "cbtxn_01JNKZ8X00000000000000002A"),
        "usage_applied": fixed(usage_applied, "cbtxn_01JNKZ8X00000000000000002B"),
        "released": fixed(released, "cbtxn_01JNKZ8X00000000000000003A"),
        "voided": fixed(voided, "cbtxn_01JNKZ8X00000000000000004A"),
        "expired": fixed(expired, "cbtxn_01JNKZ8X00000000000000005A"),
        "settled": fixed(settled, "cbtxn_01JNKZ8X00000000000000006A"),
        "adjusted": fixed(adjusted, "cbtxn_01JNKZ8X00000000000000007A"),
        "refunded": fixed(refunded, "cbtxn_01JNKZ8X00000000000000008A"),
        "topped_up": fixed(granted_entry(g.evolve(id="cg_01JNKZ8X0000000000000000CC", top_up_rule_id="ctr_1"), T0),
                           "cbtxn_01JNKZ8X00000000000000009A"),
    }
    return {label: mapping.entry_to_item(r) for label, r in records.items()}


def notice_item() -> dict[str, Any]:
    from credits.domain.expiry_rules import notice_for
    from credits.store.sweeps import notice_item as to_item

    g = grant()
    _, notice = notice_for(g, g.expires_at - LEAD)
    return to_item(notice)


def grant_notice_items() -> dict[str, dict[str, Any]]:
    """A grant that requires payment: its invoice notice, and the notice of its failed payment."""
    gated = grant(id="cg_01JNKZ8X0000000000000000DD", requirePayment=True, costOfCredit="45.00")
    failed = record_payment(gated, "FAILED", "in_77", T0 + timedelta(days=1))[2][0]
    return {"invoice_requested": mapping.grant_notice_to_item(invoice_notice(gated, T0)),
            "payment_failed": mapping.grant_notice_to_item(failed)}


def grant_item() -> dict[str, Any]:
    return mapping.grant_to_item(grant(), notice_lead=LEAD)


def stream_record(item: dict[str, Any], event_name: str = "INSERT", seq: str = "100",
                  old: dict[str, Any] | None = None) -> dict[str, Any]:
    """The record shape Lambda passes for a DynamoDB stream (NEW_AND_OLD_IMAGES)."""
    ddb: dict[str, Any] = {"Keys": to_wire({"PK": item["PK"], "SK": item["SK"]}), "SequenceNumber": seq,
                           "SizeBytes": 100, "StreamViewType": "NEW_AND_OLD_IMAGES",
                           "ApproximateCreationDateTime": 1772366400}
    if event_name != "REMOVE":
        ddb["NewImage"] = to_wire(item)
    if old is not None or event_name == "REMOVE":
        ddb["OldImage"] = to_wire(old or item)
    return {"eventID": f"ev{seq}", "eventName": event_name, "eventVersion": "1.1", "eventSource": "aws:dynamodb",
            "awsRegion": "us-east-1", "dynamodb": ddb,
            "eventSourceARN": "arn:aws:dynamodb:us-east-1:123456789012:table/credits/stream/2026"}


def every_event_record() -> list[dict[str, Any]]:
    """Stream records that, together, publish every stream-derived event type."""
    items = ledger_items()
    labels = ["granted", "applied", "usage_applied", "released", "voided", "expired", "adjusted", "refunded", "topped_up"]
    return [stream_record(items[label], seq=str(100 + i)) for i, label in enumerate(labels)] + [
        stream_record(notice_item(), seq="200")] + [
        stream_record(item, seq=str(400 + i)) for i, item in enumerate(grant_notice_items().values())]
