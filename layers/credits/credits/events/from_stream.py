"""The contract's events: one pydantic model per event `detail`, and the pure mapping from a table
stream record (a committed ledger entry or notice item) to the events it publishes.

Events are derived from committed writes only (README "Events"), so this module never looks at
grants: the ledger entry carries what each event needs in its `context` map. Ids are derived from
the item's key and the event type, so a redelivered stream record publishes the same ids again.
"""

from __future__ import annotations

import hashlib
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from credits.models.api import Grant

SOURCE = "credits.service"

GRANTED = "account.credits.granted"
VOIDED = "account.credits.voided"
EXPIRED = "account.credits.expired"
EXPIRING_SOON = "account.credits.expiring_soon"
APPLIED = "account.credits.applied"
RELEASED = "account.credits.released"
BALANCE_DEPLETED = "account.credits.balance_depleted"
INVOICE_REQUESTED = "account.credits.invoice_requested"
COMMAND_FAILED = "account.credits.command_failed"

GrantType = Literal["CASH", "USAGE"]


class _Data(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, json_schema_serialization_defaults_required=True)


# ====================================================================== data of each event


class GrantedData(_Data):
    """The grant as `GET /credit-grants/{id}` showed it when it was created."""

    grant: Grant


class _AmountData(_Data):
    type: GrantType = Field(description="the grant's type: CASH (money) or USAGE (units of metricId)")
    currency: str | None
    metricId: str | None
    name: str = Field(description="the grant's name")
    amount: str = Field(description="decimal string, positive; the event type gives the direction")
    balanceAfter: str = Field(description="the grant's currentBalance after this change")


class VoidedData(_AmountData):
    reason: str | None


class ExpiredData(_AmountData):
    """`amount` is the balance written off; an invoiceId is set when a released application's
    amount went straight on to expiry (the grant had expired meanwhile)."""

    invoiceId: str | None = None


class ExpiringSoonData(_Data):
    type: GrantType
    currency: str | None
    metricId: str | None
    name: str
    expiresAt: str
    expiryDate: str
    currentBalance: str = Field(description="what will expire unless it is used first")


class AppliedData(_AmountData):
    invoiceId: str | None
    lineId: str | None


class ReleasedData(_AmountData):
    invoiceId: str | None
    lineId: str | None


class BalanceDepletedData(_Data):
    """The customer's available balance for one currency (CASH) or metric (USAGE) reached zero."""

    type: GrantType
    currency: str | None
    metricId: str | None
    invoiceId: str | None = Field(description="the application that used the last of it")


class InvoiceRequestedData(_Data):
    """What to charge the customer for a grant created with generateInvoice: true."""

    costOfCredit: str
    currency: str | None
    taxRateId: str | None
    name: str
    type: GrantType
    originalAmount: str
    metricId: str | None


class CommandFailedData(_Data):
    commandId: str = Field(description="the id of the EventBridge command event")
    detailType: str
    error: dict[str, Any] = Field(description="the error body of the HTTP API: {\"error\": {code, message, details}}")


# ====================================================================== envelopes


class BaseEvent(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, json_schema_serialization_defaults_required=True)

    id: str = Field(pattern=r"^evt_[0-9a-f]{26}$", description="unique per event, the same on every redelivery")
    accountId: str
    customerId: str
    grantId: str | None
    occurredAt: str = Field(description="RFC 3339 UTC instant of the committed change")


class GrantedEvent(BaseEvent):
    type: Literal["account.credits.granted"] = GRANTED
    grantId: str
    data: GrantedData


class VoidedEvent(BaseEvent):
    type: Literal["account.credits.voided"] = VOIDED
    grantId: str
    data: VoidedData


class ExpiredEvent(BaseEvent):
    type: Literal["account.credits.expired"] = EXPIRED
    grantId: str
    data: ExpiredData


class ExpiringSoonEvent(BaseEvent):
    type: Literal["account.credits.expiring_soon"] = EXPIRING_SOON
    grantId: str
    data: ExpiringSoonData


class AppliedEvent(BaseEvent):
    type: Literal["account.credits.applied"] = APPLIED
    grantId: str
    data: AppliedData


class ReleasedEvent(BaseEvent):
    type: Literal["account.credits.released"] = RELEASED
    grantId: str
    data: ReleasedData


class BalanceDepletedEvent(BaseEvent):
    """grantId is null: the event is about the customer's balance, not one grant."""

    type: Literal["account.credits.balance_depleted"] = BALANCE_DEPLETED
    grantId: None = None
    data: BalanceDepletedData


class InvoiceRequestedEvent(BaseEvent):
    type: Literal["account.credits.invoice_requested"] = INVOICE_REQUESTED
    grantId: str
    data: InvoiceRequestedData


class CommandFailedEvent(BaseEvent):
    """customerId is null when the failed command named no customer."""

    type: Literal["account.credits.command_failed"] = COMMAND_FAILED
    customerId: str | None  # type: ignore[assignment]
    grantId: str | None = None
    data: CommandFailedData


EVENT_MODELS: dict[str, type[BaseEvent]] = {
    GRANTED: GrantedEvent,
    VOIDED: VoidedEvent,
    EXPIRED: ExpiredEvent,
    EXPIRING_SOON: ExpiringSoonEvent,
    APPLIED: AppliedEvent,
    RELEASED: ReleasedEvent,
    BALANCE_DEPLETED: BalanceDepletedEvent,
    INVOICE_REQUESTED: InvoiceRequestedEvent,
    COMMAND_FAILED: CommandFailedEvent,
}

Event = Annotated[
    GrantedEvent | VoidedEvent | ExpiredEvent | ExpiringSoonEvent | AppliedEvent | ReleasedEvent
    | BalanceDepletedEvent | InvoiceRequestedEvent | CommandFailedEvent,
    Field(discriminator="type"),
]


def event_id(*parts: str) -> str:
    """Deterministic id: the same item (and event type) always gives the same id."""
    return "evt_" + hashlib.sha256("|".join(parts).encode()).hexdigest()[:26]


def json_schemas() -> dict[str, dict[str, Any]]:
    """JSON Schema of each event's `detail`, by event name (docs/events/<name>.schema.json)."""
    out = {}
    for name, model in EVENT_MODELS.items():
        schema = model.model_json_schema(mode="serialization")
        schema["$id"] = f"https://credits.service/events/{name}.schema.json"
        schema["title"] = name
        out[name] = schema
    return out


# ====================================================================== stream record → events


def events_from_stream_record(record: Any) -> list[BaseEvent]:
    """The events a table stream record publishes: an INSERT of a ledger entry or a notice item;
    every other record (grant updates, applications, idempotency, TTL deletions…) publishes none.
    `record` is the Lambda stream record as a dict, or a Powertools DynamoDBRecord."""
    from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord

    raw = record.raw_event if isinstance(record, DynamoDBRecord) else record
    if raw.get("eventName") != "INSERT":
        return []
    new_image = (raw.get("dynamodb") or {}).get("NewImage") or {}
    image = DynamoDBRecord({"dynamodb": {"NewImage": _repair_image(new_image)}}).dynamodb.new_image  # type: ignore[union-attr]
    entity = image.get("entity")
    if entity == "LEDGER":
        return events_from_ledger_item(image)
    if entity == "NOTICE":
        return events_from_notice_item(image)
    return []


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
    from credits.api.views import amount_text

    return amount_text(Decimal(value), grant_type, currency)


def events_from_ledger_item(item: dict[str, Any]) -> list[BaseEvent]:
    ctx = item.get("context") or {}
    kind = item["entryType"]
    grant_type, currency = ctx.get("grantType", "CASH"), ctx.get("currency")
    pk, sk = item["PK"], item["SK"]
    base = {"accountId": item["accountId"], "customerId": item["customerId"], "grantId": item["grantId"],
            "occurredAt": item["createdAt"]}
    amounts = {"type": grant_type, "currency": currency, "metricId": ctx.get("metricId"), "name": ctx.get("name", ""),
               "amount": _amount(item["amount"], grant_type, currency),
               "balanceAfter": _amount(item["balanceAfter"], grant_type, currency)}
    events: list[BaseEvent] = []
    if kind == "GRANTED":
        grant = Grant.model_validate(ctx["grant"])
        events.append(GrantedEvent(id=event_id(pk, sk, GRANTED), **base, data=GrantedData(grant=grant)))
        if grant.invoiceRequested:
            events.append(InvoiceRequestedEvent(id=event_id(pk, sk, INVOICE_REQUESTED), **base, data=InvoiceRequestedData(
                costOfCredit=grant.costOfCredit, currency=grant.currency, taxRateId=grant.taxRateId, name=grant.name,
                type=grant.type, originalAmount=grant.originalAmount, metricId=grant.metricId)))
    elif kind == "VOIDED":
        events.append(VoidedEvent(id=event_id(pk, sk, VOIDED), **base, data=VoidedData(**amounts, reason=item.get("reason"))))
    elif kind == "EXPIRED":
        events.append(ExpiredEvent(id=event_id(pk, sk, EXPIRED), **base,
                                   data=ExpiredData(**amounts, invoiceId=item.get("invoiceId"))))
    elif kind == "APPLIED":
        line = {"invoiceId": item.get("invoiceId"), "lineId": item.get("lineId")}
        events.append(AppliedEvent(id=event_id(pk, sk, APPLIED), **base, data=AppliedData(**amounts, **line)))
    elif kind == "RELEASED":
        line = {"invoiceId": item.get("invoiceId"), "lineId": item.get("lineId")}
        events.append(ReleasedEvent(id=event_id(pk, sk, RELEASED), **base, data=ReleasedData(**amounts, **line)))
    depleted = ctx.get("balanceDepleted")
    if depleted and kind in ("APPLIED", "VOIDED", "EXPIRED"):
        # The write that took the customer's available balance (currency / metric) to zero.
        events.append(BalanceDepletedEvent(
            id=event_id(pk, sk, BALANCE_DEPLETED), **{**base, "grantId": None},
            data=BalanceDepletedData(type=depleted["type"], currency=depleted.get("currency"),
                                     metricId=depleted.get("metricId"), invoiceId=item.get("invoiceId"))))
    # SETTLED, EXPIRY_CHANGED, DELETED: audit-trail entries without an event in the contract.
    return events


def events_from_notice_item(item: dict[str, Any]) -> list[BaseEvent]:
    if item.get("kind") == "BALANCE_DEPLETED":
        # Written by the expiry sweep when its EXPIRED entries emptied a balance.
        return [BalanceDepletedEvent(
            id=event_id(item["PK"], item["SK"], BALANCE_DEPLETED), accountId=item["accountId"],
            customerId=item["customerId"], grantId=None, occurredAt=item["createdAt"],
            data=BalanceDepletedData(type=item["grantType"], currency=item.get("currency"),
                                     metricId=item.get("metricId"), invoiceId=None))]
    if item.get("kind") != "EXPIRING_SOON":
        return []
    grant_type, currency = item["grantType"], item.get("currency")
    return [ExpiringSoonEvent(
        id=event_id(item["PK"], item["SK"], EXPIRING_SOON), accountId=item["accountId"],
        customerId=item["customerId"], grantId=item["grantId"], occurredAt=item["createdAt"],
        data=ExpiringSoonData(type=grant_type, currency=currency, metricId=item.get("metricId"), name=item["name"],
                              expiresAt=item["expiresAt"], expiryDate=item["expiryDate"],
                              currentBalance=_amount(item["currentBalance"], grant_type, currency)))]


def command_failed_event(account_id: str, command_id: str, detail_type: str, error: dict[str, Any],
                         occurred_at: str, customer_id: str | None = None) -> CommandFailedEvent:
    """For the command handlers (published directly, not from the stream): the id derives from
    the command's event id, so a redelivered command reports the same failure id."""
    return CommandFailedEvent(id=event_id("COMMAND", command_id, COMMAND_FAILED), accountId=account_id,
                              customerId=customer_id, occurredAt=occurred_at,
                              data=CommandFailedData(commandId=command_id, detailType=detail_type, error=error))


def to_entry(event: BaseEvent, bus_name: str) -> dict[str, Any]:
    """The PutEvents entry of an event (the detail is the contract's envelope)."""
    return {"Source": SOURCE, "DetailType": event.type, "Detail": event.model_dump_json(),  # type: ignore[attr-defined]
            "EventBusName": bus_name}


def write_schemas(directory: str) -> list[str]:
    """Write docs/events/<event name>.schema.json (stable formatting, commit-ready)."""
    import json
    from pathlib import Path

    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, schema in json_schemas().items():
        path = out / f"{name}.schema.json"
        path.write_text(json.dumps(schema, indent=2, sort_keys=True) + "\n")
        written.append(str(path))
    return written


if __name__ == "__main__":  # python -m credits.events.from_stream docs/events
    import sys

    print("\n".join(write_schemas(sys.argv[1] if len(sys.argv) > 1 else "docs/events")))
