"""The contract's events: one pydantic model per event `detail`, their envelopes, and their JSON
Schemas (docs/events/, written by `python -m tools.event_schemas`). Ids are derived from the
committed item's key and the event type, so a redelivered stream record publishes the same ids."""

from __future__ import annotations

import hashlib
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, create_model

from credits.models.api import Grant, Model

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
ADJUSTED = "account.credits.adjusted"
REFUND_REQUESTED = "account.credits.refund_requested"
BALANCE_LOW = "account.credits.balance_low"
BALANCE_RECOVERED = "account.credits.balance_recovered"
TOPPED_UP = "account.credits.topped_up"

GrantType = Literal["CASH", "USAGE"]


class _Data(Model):
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
    """An invoiceId is set when a released application's amount went straight on to VOIDED
    (the grant had been voided meanwhile)."""

    reason: str | None
    invoiceId: str | None = None


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


class AdjustedData(_AmountData):
    """An operator's correction: `amount` was added (INCREASE) to or taken off (DECREASE) the grant."""

    direction: Literal["INCREASE", "DECREASE"]
    reason: str | None


class RefundRequestedData(_Data):
    """A PAID grant was voided with refund: true; issue a credit note for `refundAmount`
    (= the balance removed x costOfCredit / originalAmount, rounded half-even to the currency)."""

    refundAmount: str
    currency: str
    taxRateId: str | None
    taxRate: dict[str, str] | None = None
    type: GrantType
    metricId: str | None
    name: str
    voidedAmount: str = Field(description="the grant's balance the void removed, in the grant's unit")
    reason: str | None


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
    taxRate: dict[str, str] | None = None
    name: str
    type: GrantType
    originalAmount: str
    metricId: str | None


class CommandFailedData(_Data):
    commandId: str = Field(description="the id of the EventBridge command event")
    detailType: str
    error: dict[str, Any] = Field(description="the error body of the HTTP API: {\"error\": {code, message, details}}")


class BalanceCrossedData(_Data):
    """A customer balance crossed an alert's threshold (balance_low: from >= to <;
    balance_recovered: back to >=). Once per crossing, from the committed write."""

    alert: dict[str, Any] = Field(description="the alert as GET /credit-balance-alerts/{id} shows it (state before)")
    type: GrantType
    currency: str | None
    metricId: str | None
    threshold: str
    balanceBefore: str = Field(description="the balance's available amount before the write")
    balanceAfter: str = Field(description="the balance's available amount after the write")
    write: dict[str, Any] = Field(description="the write that crossed it: ledger entryIds, their types, invoiceId "
                                              "or the consumption's eventId")


class ToppedUpData(_Data):
    """A top-up rule's grant, created once for a crossing of its threshold."""

    topUpRuleId: str
    grant: Grant


# ====================================================================== envelopes


class BaseEvent(Model):
    model_config = ConfigDict(extra="forbid", frozen=True, json_schema_serialization_defaults_required=True)

    id: str = Field(pattern=r"^evt_[0-9a-f]{26}$", description="unique per event, the same on every redelivery")
    accountId: str
    customerId: str
    grantId: str | None
    occurredAt: str = Field(description="RFC 3339 UTC instant of the committed change")
    actor: dict[str, str] | None = Field(
        default=None, description='who made the change: {"type": "api_key", "id", "name"}, {"type": "command", '
                                  '"source", "eventId"} or {"type": "system", "job"}')
    testClockId: str | None = Field(default=None, description="the test clock the customer is on (then occurredAt "
                                                              "is that clock's time), else null")


def _event(name: str, event_type: str, data: type[_Data], *, grant_id: Any = str, customer_id: Any = str,
           doc: str | None = None) -> type[BaseEvent]:
    """One envelope model per event type: `type` fixed to it, `data` its detail model."""
    grant_default = None if grant_id is not str else ...
    return create_model(name, __base__=BaseEvent, __doc__=doc,
                        type=(Literal[event_type], event_type), customerId=(customer_id, ...),  # type: ignore[valid-type]
                        grantId=(grant_id, grant_default), data=(data, ...))


GrantedEvent = _event("GrantedEvent", GRANTED, GrantedData)
VoidedEvent = _event("VoidedEvent", VOIDED, VoidedData)
ExpiredEvent = _event("ExpiredEvent", EXPIRED, ExpiredData)
ExpiringSoonEvent = _event("ExpiringSoonEvent", EXPIRING_SOON, ExpiringSoonData)
AppliedEvent = _event("AppliedEvent", APPLIED, AppliedData)
ReleasedEvent = _event("ReleasedEvent", RELEASED, ReleasedData)
BalanceDepletedEvent = _event("BalanceDepletedEvent", BALANCE_DEPLETED, BalanceDepletedData, grant_id=None,
                              doc="grantId is null: the event is about the customer's balance, not one grant.")
InvoiceRequestedEvent = _event("InvoiceRequestedEvent", INVOICE_REQUESTED, InvoiceRequestedData)
AdjustedEvent = _event("AdjustedEvent", ADJUSTED, AdjustedData)
RefundRequestedEvent = _event("RefundRequestedEvent", REFUND_REQUESTED, RefundRequestedData)
BalanceLowEvent = _event("BalanceLowEvent", BALANCE_LOW, BalanceCrossedData, grant_id=None)
BalanceRecoveredEvent = _event("BalanceRecoveredEvent", BALANCE_RECOVERED, BalanceCrossedData, grant_id=None)
ToppedUpEvent = _event("ToppedUpEvent", TOPPED_UP, ToppedUpData)
CommandFailedEvent = _event("CommandFailedEvent", COMMAND_FAILED, CommandFailedData, grant_id=str | None,
                            customer_id=str | None, doc="customerId is null when the failed command named no customer.")


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
    ADJUSTED: AdjustedEvent,
    REFUND_REQUESTED: RefundRequestedEvent,
    BALANCE_LOW: BalanceLowEvent,
    BALANCE_RECOVERED: BalanceRecoveredEvent,
    TOPPED_UP: ToppedUpEvent,
}

Event = Annotated[
    GrantedEvent | VoidedEvent | ExpiredEvent | ExpiringSoonEvent | AppliedEvent | ReleasedEvent
    | BalanceDepletedEvent | InvoiceRequestedEvent | CommandFailedEvent | AdjustedEvent | RefundRequestedEvent
    | BalanceLowEvent | BalanceRecoveredEvent | ToppedUpEvent,
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


def command_failed_event(account_id: str, command_id: str, detail_type: str, error: dict[str, Any],
                         occurred_at: str, customer_id: str | None = None,
                         actor: dict[str, str] | None = None) -> CommandFailedEvent:
    """For the command handlers (published directly, not from the stream): the id derives from
    the command's event id, so a redelivered command reports the same failure id."""
    return CommandFailedEvent(id=event_id("COMMAND", command_id, COMMAND_FAILED), accountId=account_id,
                              customerId=customer_id, occurredAt=occurred_at, actor=actor,
                              data=CommandFailedData(commandId=command_id, detailType=detail_type, error=error))
