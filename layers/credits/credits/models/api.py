"""API models: the JSON shapes of the contract (camelCase, amounts as decimal strings).

Input models check structure (types, lengths, formats, unknown fields); the rules that need
the currency, the clock or stored state live in the domain modules and raise InvalidRequest.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, create_model

from credits.models.currencies import is_supported_currency

# ------------------------------------------------------------------ reusable field types

ID_PATTERN = r"^[A-Za-z0-9_\-.:@+=]{1,128}$"
# `.` and `..` match ID_PATTERN but cannot be reached through a URL path (clients and proxies
# resolve them away).
DOT_SEGMENTS = frozenset({".", ".."})


def _not_a_path_segment(value: str) -> str:
    if value in DOT_SEGMENTS:
        raise ValueError(f"{value!r} is not a valid identifier (it cannot appear in a URL path)")
    return value


# Identifiers end up inside DynamoDB keys: no '#', no spaces, no control characters; and in URL
# paths: not `.` or `..`.
Identifier = Annotated[str, StringConstraints(strict=True, pattern=ID_PATTERN), AfterValidator(_not_a_path_segment)]
# A decimal string; its precision and range are checked by money.parse_amount with the currency.
DecimalString = Annotated[str, StringConstraints(strict=True, min_length=1, max_length=64)]
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]")


def _printable(value: str) -> str:
    if _CONTROL.search(value):
        raise ValueError("must not contain control characters")
    return value


Name = Annotated[str, StringConstraints(strict=True, min_length=1, max_length=100), AfterValidator(_printable)]
Reason = Annotated[str, StringConstraints(strict=True, min_length=1, max_length=500), AfterValidator(_printable)]
CurrencyCode = Annotated[str, StringConstraints(strict=True, pattern=r"^[A-Za-z]{3}$")]
Priority = Annotated[int, Field(strict=True, ge=0, le=100)]


def _supported_currency(value: str) -> str:
    if not is_supported_currency(value.upper()):
        raise ValueError(f"{value!r} is not a supported ISO 4217 currency")
    return value.upper()


# A currency filter: one of the supported codes (any case), normalised to upper case.
SupportedCurrency = Annotated[str, StringConstraints(strict=True, pattern=r"^[A-Za-z]{3}$"),
                              AfterValidator(_supported_currency)]

_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


# Instants the service accepts: four-digit years, and room for a date's next day (expiryDate D
# means D+1 at 00:00Z) without leaving the calendar.
_FIRST_YEAR, _LAST_YEAR = 1970, 9998


def _parse_timestamp(value: str) -> datetime:
    if not _TIMESTAMP.match(value):
        raise ValueError("must be an RFC 3339 UTC timestamp like 2026-01-31T00:00:00Z")
    whole = value[:19]
    try:
        # Whole seconds: the service's instants are second-precise (as Stripe's Unix times are).
        parsed = datetime.fromisoformat(whole).replace(tzinfo=UTC)
    except ValueError as exc:
        raise ValueError(f"is not a valid timestamp ({exc})") from None
    if not _FIRST_YEAR <= parsed.year <= _LAST_YEAR:
        raise ValueError(f"must lie between the years {_FIRST_YEAR} and {_LAST_YEAR}")
    return parsed


def _parse_date(value: str) -> date:
    if not _DATE.match(value):
        raise ValueError("must be a date like 2026-01-31")
    try:
        parsed = date.fromisoformat(value)
    except ValueError as exc:
        raise ValueError(f"is not a valid date ({exc})") from None
    if not _FIRST_YEAR <= parsed.year <= _LAST_YEAR:
        raise ValueError(f"must lie between the years {_FIRST_YEAR} and {_LAST_YEAR}")
    return parsed


Timestamp = Annotated[str, StringConstraints(strict=True, max_length=40), AfterValidator(_parse_timestamp)]
DateString = Annotated[str, StringConstraints(strict=True, max_length=10), AfterValidator(_parse_date)]


def _check_metadata(value: dict[str, str]) -> dict[str, str]:
    if len(value) > 50:
        raise ValueError("may hold at most 50 keys")
    for key, item in value.items():
        _printable(key)
        _printable(item)
        if not key or len(key) > 40:
            raise ValueError(f"key {key[:40]!r} must be 1-40 characters")
        if len(item) > 500:
            raise ValueError(f"value of {key!r} must be at most 500 characters")
    return value


Metadata = Annotated[dict[Annotated[str, StringConstraints(strict=True)], Annotated[str, StringConstraints(strict=True)]], AfterValidator(_check_metadata)]


class Model(BaseModel):
    """Every contract model. Its validator and serializer are built on first use, not when the
    class is defined (defer_build): a cold start builds only the models its first request uses
    (BENCHMARKS.md "Cold start")."""

    model_config = ConfigDict(defer_build=True)


class StrictModel(Model):
    model_config = ConfigDict(extra="forbid", strict=False, frozen=True)


class Actor(Model):
    """Who made a change: {"type": "api_key", "id", "name"}, {"type": "command", "source",
    "eventId"} or {"type": "system", "job"}."""

    model_config = ConfigDict(extra="allow")
    type: Literal["api_key", "command", "system"]


# ------------------------------------------------------------------ grants


class Applicability(StrictModel):
    metricIds: Annotated[list[Identifier], Field(min_length=1, max_length=100)]


class CreateGrantRequest(StrictModel):
    customerId: Identifier
    name: Name
    type: Literal["CASH", "USAGE"]
    amount: DecimalString
    currency: CurrencyCode | None = None
    metricId: Identifier | None = None
    costOfCredit: DecimalString | None = None
    pricePerUnit: DecimalString | None = None
    category: Literal["PAID", "PROMOTIONAL"] = "PAID"
    priority: Priority = 50
    taxRateId: Identifier | None = None
    reason: Reason | None = None
    metadata: Metadata = Field(default_factory=dict)
    applicability: Applicability | None = None
    effectiveDate: DateString | None = None
    effectiveAt: Timestamp | None = None
    expiryDate: DateString | None = None
    expiresAt: Timestamp | None = None
    generateInvoice: Annotated[bool, Field(strict=True)] = False
    # PAID with costOfCredit > 0; implies generateInvoice: usable only once POST …/payment says PAID.
    requirePayment: Annotated[bool, Field(strict=True)] = False


class UpdateGrantRequest(StrictModel):
    """PATCH: only the fields present are changed (`expiresAt`/`expiryDate` null = never)."""

    name: Name | None = None
    metadata: Metadata | None = None
    priority: Priority | None = None
    expiryDate: DateString | None = None
    expiresAt: Timestamp | None = None


class VoidGrantRequest(StrictModel):
    reason: Reason
    # PAID grants with costOfCredit > 0: also publish account.credits.refund_requested.
    refund: Annotated[bool, Field(strict=True)] = False


class PaymentRequest(StrictModel):
    """POST /credit-grants/{grantId}/payment: the outcome of the invoice of a requirePayment grant."""

    status: Literal["PAID", "FAILED"]
    invoiceId: Identifier | None = None


class AdjustmentRequest(StrictModel):
    """POST /credit-grants/{grantId}/adjustments."""

    direction: Literal["INCREASE", "DECREASE"]
    amount: DecimalString
    reason: Reason


class TransitionRequest(StrictModel):
    """Settle and release take no parameters: no body, or an empty JSON object."""


class Grant(Model):
    id: str
    accountId: str
    customerId: str
    name: str
    type: Literal["CASH", "USAGE"]
    currency: str | None
    metricId: str | None
    originalAmount: str
    currentBalance: str
    pendingAmount: str
    costOfCredit: str
    pricePerUnit: str | None
    category: Literal["PAID", "PROMOTIONAL"]
    priority: int
    taxRateId: str | None
    # Snapshot {"name", "percentage"} of the account's tax rate taxRateId named when the grant was made.
    taxRate: dict[str, str] | None = None
    effectiveAt: str
    effectiveDate: str
    expiresAt: str | None
    expiryDate: str | None
    status: Literal["AWAITING_PAYMENT", "SCHEDULED", "ACTIVE", "DEPLETED", "EXPIRED", "VOIDED"]
    reason: str | None
    metadata: dict[str, str]
    applicability: dict[str, list[str]] | None
    invoiceRequested: bool
    scheduleId: str | None
    topUpRuleId: str | None = None
    createdAt: str
    updatedAt: str
    voidedAt: str | None
    voidReason: str | None
    expiredAt: str | None
    requirePayment: bool = False
    # A rollover grant: the grant whose unused balance it carries over.
    rolledOverFrom: str | None = None


class Pagination(Model):
    after: str | None
    before: str | None
    totalResultSize: int


class GrantList(Model):
    items: list[Grant]
    pagination: Pagination


# ------------------------------------------------------------------ ledger and balances


LedgerEntryType = Literal["GRANTED", "ADJUSTED_UP", "ADJUSTED_DOWN", "APPLIED", "CONSUMED", "SETTLED", "RELEASED", "EXPIRED",
                  "VOIDED", "ROLLED_OVER", "EXPIRY_CHANGED", "DELETED"]


class LedgerEntry(Model):
    id: str
    grantId: str
    customerId: str
    type: LedgerEntryType
    amount: str
    balanceAfter: str
    invoiceId: str | None
    # The invoice line of an APPLIED entry (and of the RELEASED entry that mirrors it).
    lineId: str | None = None
    reason: str | None
    createdAt: str
    actor: Actor | None = Field(default=None, description="who made the change (null: before actors were kept)")


class LedgerEntryList(Model):
    items: list[LedgerEntry]
    pagination: Pagination


class BalanceRow(Model):
    type: Literal["CASH", "USAGE"]
    currency: str | None
    metricId: str | None
    available: str
    pending: str
    expiringSoon: str
    grantCount: int


class CreditBalance(Model):
    customerId: str
    asOf: str
    balances: list[BalanceRow]


# ------------------------------------------------------------------ applications


class InvoiceLine(StrictModel):
    lineId: Identifier
    metricId: Identifier | None = None
    quantity: DecimalString | None = None
    unitPrice: DecimalString | None = None
    amount: DecimalString | None = None


class ApplyRequest(StrictModel):
    invoiceId: Identifier
    customerId: Identifier
    currency: CurrencyCode
    lines: Annotated[list[InvoiceLine], Field(min_length=1, max_length=500)]
    settle: Annotated[bool, Field(strict=True)] = False


class ApplicationLine(Model):
    lineId: str
    amount: str
    creditsApplied: str
    amountDue: str


class Allocation(Model):
    grantId: str
    type: Literal["CASH", "USAGE"]
    lineId: str
    units: str | None
    value: str


class Application(Model):
    invoiceId: str
    customerId: str
    currency: str
    # COMMITTING: a chunked apply is under way (totals are partial until it is PENDING).
    status: Literal["COMMITTING", "PENDING", "SETTLED", "RELEASED", "PREVIEW"]
    subtotal: str
    creditsApplied: str
    totalDue: str
    lines: list[ApplicationLine]
    allocations: list[Allocation]
    createdAt: str
    updatedAt: str
    actor: Actor | None = Field(default=None, description="who made the application")


# ------------------------------------------------------------------ errors (for the OpenAPI document)


class ErrorDetail(Model):
    code: str
    message: str
    details: list[dict[str, Any]]


class ErrorBody(Model):
    error: ErrorDetail


# ====================================================================== recurring grants

# The grant template is the body of POST /credit-grants without the customer and the dates
# (each period supplies its own); derived from CreateGrantRequest so the two never drift apart.
_NOT_IN_TEMPLATE = {"customerId", "effectiveDate", "effectiveAt", "expiryDate", "expiresAt"}
GrantTemplate = create_model(
    "GrantTemplate",
    __base__=StrictModel,
    **{name: (info.annotation, info) for name, info in CreateGrantRequest.model_fields.items()
       if name not in _NOT_IN_TEMPLATE},
)

Interval = Literal["DAY", "WEEK", "MONTH", "YEAR"]
# Bounded so period arithmetic stays far from year 9999 (an absurd value is a 400, not a 500).
IntervalCount = Annotated[int, Field(strict=True, ge=1, le=1000)]



class Rollover(StrictModel):
    maxAmount: DecimalString


class CreateScheduleRequest(StrictModel):
    customerId: Identifier
    grant: GrantTemplate  # type: ignore[valid-type]
    interval: Interval
    intervalCount: IntervalCount = 1
    startAt: Timestamp | None = None
    endAt: Timestamp | None = None
    expireAfterIntervals: IntervalCount | None = None
    # At a period grant's expiry, up to maxAmount of what is left moves into a new grant.
    rollover: Rollover | None = None


class Schedule(Model):
    id: str
    customerId: str
    grant: dict[str, Any]
    interval: Interval
    intervalCount: int
    startAt: str
    endAt: str | None
    expireAfterIntervals: int | None
    status: Literal["ACTIVE", "CANCELED"]
    nextGrantAt: str | None
    createdAt: str
    updatedAt: str
    rollover: dict[str, str] | None = None
    actor: Actor | None = Field(default=None, description="who made the schedule")
    canceledBy: Actor | None = None


class ScheduleList(Model):
    items: list[Schedule]
    pagination: Pagination


# ====================================================================== reports


class ReportRow(Model):
    type: Literal["CASH", "USAGE"]
    currency: str | None
    metricId: str | None
    granted: str
    adjusted: str = Field(description="ADJUSTED_UP minus ADJUSTED_DOWN in the window (negative when more was taken off)")
    applied: str
    consumed: str
    released: str
    expired: str
    voided: str
    rolledOver: str
    outstanding: str
    outstandingValue: str | None


class CreditReport(Model):
    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)

    from_: str = Field(alias="from")
    to: str
    customerId: str | None
    rows: list[ReportRow]


# ------------------------------------------------------------------ customers and tax rates (the console)


class CustomerSummary(Model):
    customerId: str
    balances: list[BalanceRow]
    grantCount: int
    lastActivityAt: str


class CustomerList(Model):
    items: list[CustomerSummary]
    pagination: Pagination


class CreateTaxRateRequest(StrictModel):
    name: Name
    percentage: DecimalString = Field(description="0-100, up to 4 fractional digits, e.g. \"20\" or \"8.875\"")
    inclusive: Annotated[bool, Field(strict=True)] = False
    active: Annotated[bool, Field(strict=True)] = True


class UpdateTaxRateRequest(StrictModel):
    name: Name | None = None
    active: Annotated[bool | None, Field(strict=True)] = None


class TaxRate(Model):
    id: str
    name: str
    percentage: str
    inclusive: bool
    active: bool
    createdAt: str
    updatedAt: str


class TaxRateList(Model):
    items: list[TaxRate]
    pagination: Pagination


# ------------------------------------------------------------------ API keys and the audit trail


class CreateApiKeyRequest(StrictModel):
    name: Name
    scope: Literal["read", "write", "admin"]


class ApiKey(Model):
    id: str
    name: str
    scope: Literal["read", "write", "admin"]
    createdAt: str
    lastUsedAt: str | None
    revokedAt: str | None = None
    createdBy: Actor | None = None
    revokedBy: Actor | None = None


class CreatedApiKey(ApiKey):
    key: str = Field(description="the key itself: shown this once, stored only as a hash")


class ApiKeyList(Model):
    items: list[ApiKey]
    pagination: Pagination


class AuditResource(Model):
    type: str = Field(description="credit_grant | credit_application | credit_grant_schedule | api_key | tax_rate")
    id: str


class AuditEvent(Model):
    id: str
    occurredAt: str
    actor: Actor | None = Field(description="who made the change (null: before actors were kept)")
    action: str = Field(description="<resource type>.<what happened>, e.g. credit_grant.voided, api_key.revoked")
    resource: AuditResource
    customerId: str | None
    reason: str | None
    data: dict[str, Any] = Field(description="what changed: amounts and ledger entry id, names, scopes…")


class AuditEventList(Model):
    items: list[AuditEvent]
    pagination: Pagination


# ====================================================================== GET query strings


PageLimit = Annotated[int, Field(ge=1, le=100)]
Cursor = Annotated[str, StringConstraints(max_length=2048)]
GrantType = Literal["CASH", "USAGE"]
GrantStatus = Literal["AWAITING_PAYMENT", "SCHEDULED", "ACTIVE", "DEPLETED", "EXPIRED", "VOIDED"]


class PageQuery(StrictModel):
    limit: PageLimit = 20
    after: Cursor | None = None
    before: Cursor | None = None


class GrantListQuery(PageQuery):
    customerId: Identifier | None = None
    status: GrantStatus | None = None
    type: GrantType | None = None
    currency: SupportedCurrency | None = None
    metricId: Identifier | None = None


class TransactionListQuery(PageQuery):
    grantId: Identifier | None = None
    type: LedgerEntryType | None = None
    from_: Timestamp | None = Field(default=None, alias="from")
    to: Timestamp | None = None


class ReportQuery(StrictModel):
    from_: Timestamp = Field(alias="from")
    to: Timestamp
    customerId: Identifier | None = None
    type: GrantType | None = None
    currency: SupportedCurrency | None = None


class AuditEventQuery(PageQuery):
    actorId: Annotated[str, StringConstraints(strict=True, min_length=1, max_length=255)] | None = Field(
        default=None, description="an API key's id, a command's source, or a job (expiry, schedule…)")
    actorType: Literal["api_key", "command", "system"] | None = None
    resourceId: Identifier | None = None
    from_: Timestamp | None = Field(default=None, alias="from")
    to: Timestamp | None = None


class CustomerListQuery(PageQuery):
    customerIdPrefix: Identifier | None = None


# ---------------------------------------------------------------------------- test clocks
TestClockStatus = Literal["READY", "ADVANCING", "DELETING"]


class CreateTestClockRequest(StrictModel):
    name: Name
    frozenTime: Timestamp


class AdvanceTestClockRequest(StrictModel):
    frozenTime: Timestamp


class AttachTestClockCustomerRequest(StrictModel):
    customerId: Identifier


class TestClock(Model):
    __test__ = False  # not a pytest class

    id: str
    name: str
    frozenTime: str
    status: TestClockStatus
    createdAt: str
    # While ADVANCING: where the advance goes (frozenTime is the instant reached so far).
    advancingTo: str | None = None


class TestClockList(Model):
    __test__ = False

    items: list[TestClock]
    pagination: Pagination


class TestClockCustomer(Model):
    __test__ = False

    customerId: str
    testClockId: str
    frozenTime: str


class TestClockCustomerList(Model):
    __test__ = False

    items: list[TestClockCustomer]
    pagination: Pagination
