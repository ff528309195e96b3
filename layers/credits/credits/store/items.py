"""Explicit mapping between domain records and DynamoDB items (plain Python values;
dynamo.py converts to and from the wire format)."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from credits.domain.actors import actor_id
from credits.domain.balance_aggregates import AVAILABLE, COUNT, PENDING, BalanceKey, contribution
from credits.domain.balances import BalanceTotals
from credits.domain.burndown import Allocation
from credits.domain.clock import from_iso, to_iso
from credits.domain.records import (
    ApiKeyRecord,
    ApplicationRecord,
    AuditRecord,
    ConsumptionRecord,
    CustomerEntry,
    GrantNotice,
    GrantRecord,
    LedgerRecord,
    ScheduleRecord,
    TaxRateRecord,
    TestClockRecord,
    WatchRecord,
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
        "awaitingPayment": True if grant.awaiting_payment else None,
        "requirePayment": True if grant.require_payment else None,
        "paymentInvoiceId": grant.payment_invoice_id,
        "rolloverMax": grant.rollover_max,
        "rolloverInterval": grant.rollover_interval,
        "rolloverIntervalCount": grant.rollover_interval_count,
        "rolledOverFrom": grant.rolled_over_from,
        "topUpRuleId": grant.top_up_rule_id,
        "updatedBy": grant.updated_by,
        "testClockId": grant.test_clock_id,
    })


def grant_to_item(grant: GrantRecord, *, notice_lead: timedelta) -> dict[str, Any]:
    item: dict[str, Any] = {
        "PK": keys.customer_pk(grant.account_id, grant.customer_id),
        "SK": keys.grant_sk(grant.id),
        "entity": "GRANT",
        **grant_attributes(grant),
        "GSI1PK": keys.account_grants_gsi1pk(grant.account_id, grant.id),
        "GSI1SK": grant.id,
        # Its contribution is in its balance aggregate (written since the aggregates exist).
        "aggregated": True,
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
    grant = GrantRecord(
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
        awaiting_payment=bool(item.get("awaitingPayment", False)),
        require_payment=bool(item.get("requirePayment", False)),
        payment_invoice_id=item.get("paymentInvoiceId"),
        rollover_max=Decimal(item["rolloverMax"]) if item.get("rolloverMax") is not None else None,
        rollover_interval=item.get("rolloverInterval"),
        rollover_interval_count=int(item["rolloverIntervalCount"]) if item.get("rolloverIntervalCount") else None,
        rolled_over_from=item.get("rolledOverFrom"),
        top_up_rule_id=item.get("topUpRuleId"),
        updated_by=actor_of(item, "updatedBy"),
        test_clock_id=item.get("testClockId"),
    )
    # What it contributes to its balance aggregate as stored (a write adds the difference);
    # a grant written before the aggregates existed contributes nothing yet.
    return grant.evolve(stored=contribution(grant) if item.get("aggregated") else {})


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
            "actor": entry.actor,
            "testClockId": entry.test_clock_id,
            "GSI1PK": keys.account_ledger_gsi1pk(entry.account_id, entry.id),
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
        actor=actor_of(item),
        test_clock_id=item.get("testClockId"),
    )


# A grant notice's item lives as long as the other notices (store/sweeps.py).
GRANT_NOTICE_RETENTION = timedelta(days=90)


def grant_notice_to_item(notice: GrantNotice) -> dict[str, Any]:
    """The item of a GrantNotice (entity NOTICE: its INSERT is the event). One per grant and kind."""
    grant = notice.grant
    return {
        "PK": keys.customer_pk(grant.account_id, grant.customer_id),
        "SK": f"NOTICE#{notice.kind}#{grant.id}",
        "entity": "NOTICE",
        "kind": notice.kind,
        "accountId": grant.account_id,
        "customerId": grant.customer_id,
        "grantId": grant.id,
        "grant": grant_attributes(grant),
        "createdAt": to_iso(notice.created_at),
        "expiration": int((notice.created_at + GRANT_NOTICE_RETENTION).timestamp()),
        "actor": notice.actor,
    }


def actor_of(item: dict[str, Any], attribute: str = "actor") -> dict[str, str] | None:
    """The actor an item records (None for items written before actors were recorded)."""
    actor = item.get(attribute)
    return {str(k): str(v) for k, v in actor.items()} if actor else None


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
        "doneAllocations": app.done_allocations or None,
        "createdBy": app.created_by,
        "actor": app.actor,
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
        done_allocations=int(item.get("doneAllocations") or 0),
        created_by=item.get("createdBy"), actor=actor_of(item),
    )


def is_ledger_item(item: dict[str, Any]) -> bool:
    return item.get("entity") == "LEDGER"


def item_to_customer_entry(item: dict[str, Any]) -> CustomerEntry:
    return CustomerEntry(account_id=item["accountId"], customer_id=item["customerId"],
                         last_activity_at=_dt(item["lastActivityAt"]))


# Record field -> item attribute of a tax rate (what PATCH /tax-rates/{id} may change, and more).
TAX_RATE_ATTRIBUTES = {"name": "name", "active": "active", "updated_at": "updatedAt", "updated_by": "updatedBy"}


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
        **({"actor": rate.actor} if rate.actor else {}),
        "GSI1PK": keys.account_tax_rates_gsi1pk(rate.account_id),
        "GSI1SK": rate.id,
    }


def item_to_tax_rate(item: dict[str, Any]) -> TaxRateRecord:
    return TaxRateRecord(id=item["id"], account_id=item["accountId"], name=item["name"],
                         percentage=item["percentage"], inclusive=bool(item["inclusive"]),
                         active=bool(item["active"]), created_at=_dt(item["createdAt"]),
                         updated_at=_dt(item["updatedAt"]), actor=actor_of(item))


# ---- balance aggregates and consumptions (v2)
def aggregate_attribute(field: str, window: str) -> str:
    """An aggregate item's attribute for one (field, window) bucket: top-level, so ADD works."""
    return f"{field}|{window}"


def item_to_buckets(item: dict[str, Any] | None) -> dict[tuple[str, str], Decimal]:
    out: dict[tuple[str, str], Decimal] = {}
    for name, value in (item or {}).items():
        field, sep, window = name.partition("|")
        if sep and field in (AVAILABLE, PENDING, COUNT):
            out[(field, window)] = Decimal(value)
    return out


def item_to_balance_key(item: dict[str, Any]) -> BalanceKey:
    return BalanceKey(item["grantType"], item.get("currency"), item.get("metricId"))


def consumption_to_item(record: ConsumptionRecord) -> dict[str, Any]:
    return _drop_none({
        **keys.consumption_key(record.account_id, record.event_id),
        "entity": "CONSUMPTION",
        "id": record.id, "eventId": record.event_id, "accountId": record.account_id,
        "customerId": record.customer_id, "metricId": record.metric_id, "currency": record.currency,
        "quantity": record.quantity, "amount": record.amount, "unitPrice": record.unit_price, "mode": record.mode,
        "coveredUnits": record.covered_units, "coveredValue": record.covered_value,
        "uncoveredUnits": record.uncovered_units, "uncoveredValue": record.uncovered_value,
        "allocations": [_drop_none({"grantId": a.grant_id, "type": a.type, "units": a.units, "value": a.value})
                        for a in record.allocations],
        "requestHash": record.request_hash, "createdAt": to_iso(record.created_at), "actor": record.actor,
        "balancesAfter": [_drop_none({"type": b.type, "currency": b.currency, "metricId": b.metric_id,
                                      "available": b.available, "pending": b.pending, "expiring": b.expiring,
                                      "grantCount": b.grant_count}) for b in record.balances] or None,
    })


def _decimal(value: Any) -> Decimal | None:
    return None if value is None else Decimal(value)


def item_to_consumption(item: dict[str, Any]) -> ConsumptionRecord:
    return ConsumptionRecord(
        id=item["id"], event_id=item["eventId"], account_id=item["accountId"], customer_id=item["customerId"],
        metric_id=item.get("metricId"), currency=item.get("currency"), quantity=_decimal(item.get("quantity")),
        amount=_decimal(item.get("amount")), unit_price=_decimal(item.get("unitPrice")), mode=item["mode"],
        covered_units=_decimal(item.get("coveredUnits")), covered_value=_decimal(item.get("coveredValue")),
        uncovered_units=_decimal(item.get("uncoveredUnits")), uncovered_value=_decimal(item.get("uncoveredValue")),
        allocations=tuple(Allocation(grant_id=a["grantId"], type=a["type"], line_id="consumption",
                                     units=_decimal(a.get("units")), value=Decimal(a["value"]))
                          for a in item.get("allocations", [])),
        request_hash=item["requestHash"], created_at=_dt(item["createdAt"]), actor=actor_of(item),
        balances=tuple(BalanceTotals(type=b["type"], currency=b.get("currency"), metric_id=b.get("metricId"),
                                     available=Decimal(b["available"]), pending=Decimal(b["pending"]),
                                     expiring=Decimal(b["expiring"]), grant_count=int(b["grantCount"]))
                       for b in item.get("balancesAfter") or ()),
    )


def api_key_to_item(key: ApiKeyRecord) -> dict[str, Any]:
    return _drop_none({
        **keys.api_key_key(key.key_hash),
        "entity": "APIKEY",
        "keyId": key.id,
        "accountId": key.account_id,
        "name": key.name,
        "scope": key.scope,
        "createdAt": to_iso(key.created_at),
        "lastUsedAt": to_iso(key.last_used_at),
        "revokedAt": to_iso(key.revoked_at),
        "actor": key.actor,
        "revokedBy": key.revoked_by,
        "GSI1PK": keys.account_api_keys_gsi1pk(key.account_id),
        "GSI1SK": key.id,
    })


# A key stored before keys had names and scopes (the api-key tool's first version): an admin key.
LEGACY_KEY_ID, LEGACY_KEY_NAME = "key_legacy", "API key (api-key tool)"


def item_to_api_key(item: dict[str, Any]) -> ApiKeyRecord:
    return ApiKeyRecord(
        id=item.get("keyId") or LEGACY_KEY_ID, account_id=item["accountId"],
        name=item.get("name") or LEGACY_KEY_NAME, scope=item.get("scope") or "admin",
        key_hash=item["PK"].removeprefix("APIKEY#"), created_at=from_iso(item.get("createdAt")) or datetime(1970, 1, 1, tzinfo=UTC),
        last_used_at=from_iso(item.get("lastUsedAt")), revoked_at=from_iso(item.get("revokedAt")),
        actor=actor_of(item), revoked_by=actor_of(item, "revokedBy"))


# ---- the audit trail: which committed change of an item is an audit event (read from the stream)
_GRANT_FIELDS_WITHOUT_ENTRY = ("name", "metadata", "priority")  # a PATCH of these writes no ledger entry


def _audit(new: dict[str, Any], action: str, resource_type: str, resource_id: str, occurred: str | None,
           actor_attribute: str = "actor", **extra: Any) -> AuditRecord:
    key = f"{new['PK']}|{new['SK']}|{action}|{occurred}"
    audit_id = "aud_" + hashlib.sha256(key.encode()).hexdigest()[:26]
    return AuditRecord(id=audit_id, account_id=new["accountId"], occurred_at=_dt(occurred or new["updatedAt"]),
                       actor=actor_of(new, actor_attribute), action=action, resource_type=resource_type,
                       resource_id=resource_id, sequence=extra.pop("sequence", audit_id), **extra)


def audit_of_change(old: dict[str, Any] | None, new: dict[str, Any] | None) -> AuditRecord | None:
    """The audit event of one committed write (a stream record's old and new images), or None:
    ledger entries (every balance change and every grant's lifecycle), applications made,
    schedules made and canceled, API keys made and revoked, tax rates made and changed, and grant
    changes no entry records (name, metadata, priority)."""
    if new is None or not new.get("accountId"):
        return None
    entity = new.get("entity")
    if entity == "LEDGER" and old is None:
        entry = item_to_entry(new)
        data = _drop_none({"ledgerEntryId": entry.id, "amount": str(entry.amount), "balanceAfter": str(entry.balance_after),
                           "invoiceId": entry.invoice_id, "lineId": entry.line_id})
        return _audit(new, f"credit_grant.{entry.type.lower()}", "credit_grant", entry.grant_id, new["createdAt"],
                      customer_id=entry.customer_id, reason=entry.reason, data=data, sequence=entry.id)
    if entity == "GRANT" and old is not None and any(old.get(f) != new.get(f) for f in _GRANT_FIELDS_WITHOUT_ENTRY):
        changed = {f: new.get(f) for f in _GRANT_FIELDS_WITHOUT_ENTRY if old.get(f) != new.get(f)}
        return _audit(new, "credit_grant.updated", "credit_grant", new["id"], new["updatedAt"], "updatedBy",
                      customer_id=new["customerId"], data={"changed": _plain(changed)})
    if entity == "APPLICATION" and old is None:
        return _audit(new, "credit_application.created", "credit_application", new["invoiceId"], new["createdAt"],
                      customer_id=new["customerId"], data={"status": new["applicationStatus"]})
    if entity == "SCHEDULE" and old is None:
        return _audit(new, "credit_grant_schedule.created", "credit_grant_schedule", new["id"], new["createdAt"],
                      customer_id=new["customerId"])
    if entity == "SCHEDULE" and new.get("status") == "CANCELED" and (old or {}).get("status") != "CANCELED":
        return _audit(new, "credit_grant_schedule.canceled", "credit_grant_schedule", new["id"], new.get("canceledAt"),
                      "canceledBy", customer_id=new["customerId"])
    if entity == "APIKEY" and new.get("keyId") and not (old or {}).get("keyId"):
        return _audit(new, "api_key.created", "api_key", new["keyId"], new.get("createdAt"),
                      data={"name": new["name"], "scope": new["scope"]})
    if entity == "APIKEY" and new.get("revokedAt") and not (old or {}).get("revokedAt"):
        return _audit(new, "api_key.revoked", "api_key", new["keyId"], new["revokedAt"], "revokedBy",
                      data={"name": new["name"], "scope": new["scope"]})
    if entity == "WATCH":
        return _watch_audit(old, new)
    if entity == "TEST_CLOCK":
        return _test_clock_audit(old, new)
    if entity == "TAXRATE":
        action = "tax_rate.created" if old is None else "tax_rate.updated"
        if old is not None and all(old.get(f) == new.get(f) for f in ("name", "active")):
            return None
        return _audit(new, action, "tax_rate", new["id"], new["createdAt"] if old is None else new["updatedAt"],
                      "actor" if old is None else "updatedBy", data={"name": new["name"], "active": new["active"]})
    return None


_WATCH_TERMS = ("threshold", "grant", "maxPerMonth", "status")  # what a PATCH changes (not a crossing's moves)


def _watch_audit(old: dict[str, Any] | None, new: dict[str, Any]) -> AuditRecord | None:
    resource = "credit_balance_alert" if new["kind"] == "ALERT" else "credit_top_up_rule"
    if old is None:
        action, actor_attribute = "created", "actor"
    elif new.get("deletedAt") and not old.get("deletedAt"):
        action, actor_attribute = "deleted", "changedBy"
    elif any(old.get(f) != new.get(f) for f in _WATCH_TERMS):
        action, actor_attribute = "updated", "changedBy"
    else:
        return None
    return _audit(new, f"{resource}.{action}", resource, new["id"],
                  new.get("deletedAt") if action == "deleted" else new["updatedAt"], actor_attribute,
                  customer_id=new["customerId"], data=_plain({f: new.get(f) for f in ("threshold", "maxPerMonth", "status")
                                                             if new.get(f) is not None}))


def _test_clock_audit(old: dict[str, Any] | None, new: dict[str, Any]) -> AuditRecord | None:
    status, before = new["clockStatus"], (old or {}).get("clockStatus")
    if old is None:
        action, actor_attribute = "test_clock.created", "actor"
    elif status == "ADVANCING" and before != "ADVANCING":
        action, actor_attribute = "test_clock.advanced", "changedBy"
    elif status == "DELETING" and before != "DELETING":
        action, actor_attribute = "test_clock.deleted", "changedBy"
    else:
        return None  # the worker's steps
    return _audit(new, action, "test_clock", new["id"], new["updatedAt"], actor_attribute,
                  data=_drop_none({"frozenTime": new["frozenTime"], "targetTime": new.get("targetTime")}))


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else str(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def audit_to_item(record: AuditRecord) -> dict[str, Any]:
    sk = keys.audit_sk(to_iso(record.occurred_at), record.sequence)
    return _drop_none({
        "PK": keys.resource_audit_pk(record.account_id, record.resource_id), "SK": sk,
        "entity": "AUDIT", "id": record.id, "accountId": record.account_id,
        "occurredAt": to_iso(record.occurred_at), "actor": record.actor,
        "actorType": (record.actor or {}).get("type"), "actorId": actor_id(record.actor),
        "action": record.action, "resourceType": record.resource_type, "resourceId": record.resource_id,
        "customerId": record.customer_id, "reason": record.reason, "data": record.data or None,
        "sequence": record.sequence,
        "GSI1PK": keys.account_audit_gsi1pk(record.account_id, sk), "GSI1SK": sk,
    })


def item_to_audit(item: dict[str, Any]) -> AuditRecord:
    return AuditRecord(id=item["id"], account_id=item["accountId"], occurred_at=_dt(item["occurredAt"]),
                       actor=actor_of(item), action=item["action"], resource_type=item["resourceType"],
                       resource_id=item["resourceId"], customer_id=item.get("customerId"), reason=item.get("reason"),
                       data=_plain(dict(item.get("data") or {})), sequence=item.get("sequence", ""))


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
        "actor": clock.actor,
        "changedBy": clock.changed_by,
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
        version=int(item.get("version", 0)), actor=actor_of(item), changed_by=actor_of(item, "changedBy"),
    )


# ---- recurring-grant schedules
def schedule_due_pk(schedule: ScheduleRecord) -> str:
    """The due queue a schedule waits in: the service-wide one, or its test clock's own."""
    if schedule.test_clock_id:
        return keys.clock_queue_pk(schedule.test_clock_id, "SCHEDULE")
    return keys.schedule_gsi2pk(keys.shard_of(schedule.id))


def _due_keys(schedule: ScheduleRecord) -> dict[str, str]:
    """GSI2 keys: only ACTIVE schedules with a next period are in the due queue."""
    if schedule.status != "ACTIVE" or schedule.next_grant_at is None:
        return {}
    return {"GSI2PK": schedule_due_pk(schedule),
            "GSI2SK": keys.due_sk(to_iso(schedule.next_grant_at), schedule.id)}


def schedule_to_item(schedule: ScheduleRecord) -> dict[str, Any]:
    item: dict[str, Any] = {
        **keys.schedule_key(schedule.account_id, schedule.id),
        "entity": "SCHEDULE",
        "id": schedule.id,
        "accountId": schedule.account_id,
        "customerId": schedule.customer_id,
        "template": dict(schedule.template),
        "interval": schedule.interval,
        "intervalCount": schedule.interval_count,
        "startAt": to_iso(schedule.start_at),
        "endAt": to_iso(schedule.end_at),
        "expireAfterIntervals": schedule.expire_after_intervals,
        "status": schedule.status,
        "nextIndex": schedule.next_index,
        "nextGrantAt": to_iso(schedule.next_grant_at),
        "createdAt": to_iso(schedule.created_at),
        "updatedAt": to_iso(schedule.updated_at),
        "canceledAt": to_iso(schedule.canceled_at),
        "rolloverMax": schedule.rollover_max,
        "actor": schedule.actor,
        "canceledBy": schedule.canceled_by,
        "testClockId": schedule.test_clock_id,
        "GSI1PK": keys.account_schedules_gsi1pk(schedule.account_id),
        "GSI1SK": schedule.id,
        **_due_keys(schedule),
    }
    return {k: v for k, v in item.items() if v is not None}


def item_to_schedule(item: dict[str, Any]) -> ScheduleRecord:
    expire_after = item.get("expireAfterIntervals")
    return ScheduleRecord(
        id=item["id"],
        account_id=item["accountId"],
        customer_id=item["customerId"],
        template=_plain_template(item["template"]),
        interval=item["interval"],
        interval_count=int(item["intervalCount"]),
        start_at=from_iso(item["startAt"]),  # type: ignore[arg-type]
        end_at=from_iso(item.get("endAt")),
        expire_after_intervals=int(expire_after) if expire_after is not None else None,
        status=item["status"],
        next_index=int(item["nextIndex"]),
        next_grant_at=from_iso(item.get("nextGrantAt")),
        created_at=from_iso(item["createdAt"]),  # type: ignore[arg-type]
        updated_at=from_iso(item["updatedAt"]),  # type: ignore[arg-type]
        canceled_at=from_iso(item.get("canceledAt")),
        rollover_max=Decimal(item["rolloverMax"]) if item.get("rolloverMax") is not None else None,
        actor=actor_of(item),
        canceled_by=actor_of(item, "canceledBy"),
        test_clock_id=item.get("testClockId"),
    )


def _plain_template(value: Any) -> Any:
    """DynamoDB numbers come back as Decimal: the template holds ints (priority) and bools."""
    if isinstance(value, dict):
        return {k: _plain_template(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain_template(v) for v in value]
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else value
    return value


# ---- balance alerts and top-up rules (watches)
def watch_to_item(watch: WatchRecord) -> dict[str, Any]:
    item = {
        "PK": keys.customer_pk(watch.account_id, watch.customer_id),
        "SK": keys.watch_sk(watch.type, watch.scope, watch.id),
        "entity": "WATCH", "kind": watch.kind, "id": watch.id, "accountId": watch.account_id,
        "customerId": watch.customer_id, "grantType": watch.type, "currency": watch.currency,
        "metricId": watch.metric_id, "threshold": watch.threshold, "state": watch.state,
        "createdAt": to_iso(watch.created_at), "updatedAt": to_iso(watch.updated_at), "version": watch.version,
        # The grant template as JSON text: numbers stay the JSON types the request model expects.
        "grant": json.dumps(watch.grant, sort_keys=True) if watch.grant is not None else None,
        "maxPerMonth": watch.max_per_month if watch.kind == "TOP_UP" else None,
        "status": watch.status if watch.kind == "TOP_UP" else None, "month": watch.month,
        "monthCount": watch.month_count if watch.kind == "TOP_UP" else None,
        "GSI1PK": keys.account_watches_gsi1pk(watch.account_id, watch.kind), "GSI1SK": watch.id,
        "actor": watch.actor, "changedBy": watch.changed_by, "deletedAt": to_iso(watch.deleted_at),
    }
    return {k: v for k, v in item.items() if v is not None}


def item_to_watch(item: dict[str, Any]) -> WatchRecord:
    created, updated = from_iso(item["createdAt"]), from_iso(item["updatedAt"])
    assert created is not None and updated is not None
    return WatchRecord(
        id=item["id"], kind=item["kind"], account_id=item["accountId"], customer_id=item["customerId"],
        type=item["grantType"], currency=item.get("currency"), metric_id=item.get("metricId"),
        threshold=item["threshold"], state=item["state"], created_at=created, updated_at=updated,
        version=int(item.get("version", 0)), grant=json.loads(item["grant"]) if item.get("grant") else None,
        max_per_month=int(item.get("maxPerMonth", 0)),
        status=item.get("status", "ACTIVE"), month=item.get("month"), month_count=int(item.get("monthCount", 0)),
        actor=actor_of(item), changed_by=actor_of(item, "changedBy"), deleted_at=from_iso(item.get("deletedAt")))
