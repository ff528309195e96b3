"""API models of real-time consumption and entitlements (API.md v2 "Real-time consumption")."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, StringConstraints

from credits.models.api import (
    BalanceRow,
    CurrencyCode,
    DecimalString,
    Identifier,
    Model,
    StrictModel,
    _not_a_path_segment,
)

# The idempotency key of a consumption: 1-255 characters of the identifier alphabet (it is used
# in a URL path and in a DynamoDB key).
EventId = Annotated[str, StringConstraints(strict=True, pattern=r"^[A-Za-z0-9_\-.:@+=]{1,255}$"),
                    AfterValidator(_not_a_path_segment)]
Mode = Literal["PARTIAL", "STRICT"]

MAX_BATCH = 100


class ConsumeRequest(StrictModel):
    eventId: EventId
    customerId: Identifier
    metricId: Identifier | None = None
    quantity: DecimalString | None = None
    currency: CurrencyCode | None = None
    unitPrice: DecimalString | None = None
    amount: DecimalString | None = None
    mode: Mode = "PARTIAL"


class ConsumeBatchRequest(StrictModel):
    # Items are validated one by one by the service, so one bad item answers its own 400.
    consumptions: Annotated[list[Any], Field(min_length=1, max_length=MAX_BATCH)]


class Coverage(Model):
    units: str | None
    value: str | None


class ConsumptionAllocation(Model):
    grantId: str
    type: Literal["CASH", "USAGE"]
    units: str | None
    value: str


class Consumption(Model):
    id: str
    eventId: str
    customerId: str
    metricId: str | None
    currency: str | None
    quantity: str | None
    amount: str | None
    mode: Mode
    covered: Coverage
    uncovered: Coverage
    allocations: list[ConsumptionAllocation]
    balances: list[BalanceRow]
    createdAt: str


class BatchResult(Model):
    status: int
    consumption: Consumption | None = None
    error: dict[str, Any] | None = None


class ConsumeBatchResponse(Model):
    results: list[BatchResult]


class CashEntitlement(Model):
    currency: str
    available: str


class Entitlement(Model):
    customerId: str
    metricId: str
    hasAccess: bool
    units: str
    cash: list[CashEntitlement]
    asOf: str
