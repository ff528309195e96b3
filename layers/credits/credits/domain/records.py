"""Domain records: what the core reasons about (Decimals and datetimes, never strings).

Separate from the API models (wire shapes) and from the store's items (DynamoDB shapes); the
mapping to each lives in `api/views.py` and `store/items.py`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

GrantType = Literal["CASH", "USAGE"]
Category = Literal["PAID", "PROMOTIONAL"]
EntryType = Literal["GRANTED", "APPLIED", "SETTLED", "RELEASED", "EXPIRED", "VOIDED", "EXPIRY_CHANGED", "DELETED"]
ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class GrantRecord:
    id: str
    account_id: str
    customer_id: str
    name: str
    type: GrantType
    currency: str | None
    metric_id: str | None
    original_amount: Decimal
    current_balance: Decimal
    pending_amount: Decimal
    cost_of_credit: Decimal
    price_per_unit: Decimal | None
    category: Category
    priority: int
    tax_rate_id: str | None
    effective_at: datetime
    expires_at: datetime | None
    reason: str | None
    metadata: dict[str, str]
    applicable_metric_ids: tuple[str, ...] | None
    invoice_requested: bool
    schedule_id: str | None
    created_at: datetime
    updated_at: datetime
    voided_at: datetime | None = None
    void_reason: str | None = None
    expired_at: datetime | None = None
    # Ever applied from (a DELETE is refused once true, even if everything was released).
    ever_applied: bool = False
    # The expiring-soon notice went out (the grant leaves the notice queue).
    expiring_notice_sent: bool = False
    # Optimistic-concurrency version: every write is conditioned on the version it read.
    version: int = 0
    # Decimal places the grant's amount was given with: its amounts are shown at that scale.
    amount_scale: int | None = None
    # Snapshot {"name", "percentage"} of the account's tax rate taxRateId named at creation.
    tax_rate: dict[str, str] | None = None
    # The test clock its customer is on (`/test-clocks`): its due work is the clock's, not the sweep's.
    test_clock_id: str | None = None

    def evolve(self, **changes: Any) -> GrantRecord:
        return replace(self, **changes)

    def status_at(self, now: datetime) -> str:
        if self.voided_at is not None:
            return "VOIDED"
        if self.expired_at is not None or (self.expires_at is not None and self.expires_at <= now):
            return "EXPIRED"
        if self.effective_at > now:
            return "SCHEDULED"
        if self.current_balance <= ZERO:
            return "DEPLETED"
        return "ACTIVE"

    @property
    def balance_scope(self) -> str:
        """Which balance of the customer it belongs to: its currency (CASH) or metric (USAGE)."""
        return (self.currency if self.type == "CASH" else self.metric_id) or ""

    @property
    def holds_spendable_balance(self) -> bool:
        """May still be spent, now or once effective: holds a balance, not voided, its expiry not
        written. (Whether it is usable at an instant is `usable_at`.) The burn-down index, the
        expiry and notice queues and the in-memory adapters all select grants by this."""
        return self.voided_at is None and self.expired_at is None and self.current_balance > ZERO

    def usable_at(self, now: datetime) -> bool:
        return self.status_at(now) == "ACTIVE"

    def balance_at(self, now: datetime) -> Decimal:
        """Balance as read: zero once expired (even before the expiry job wrote it) or voided."""
        return ZERO if self.status_at(now) in ("EXPIRED", "VOIDED") else self.current_balance


@dataclass(frozen=True, slots=True)
class LedgerRecord:
    id: str
    account_id: str
    customer_id: str
    grant_id: str
    type: EntryType
    amount: Decimal
    balance_after: Decimal
    created_at: datetime
    invoice_id: str | None = None
    reason: str | None = None
    line_id: str | None = None
    # What the published event needs that the entry alone does not say (the grant's type, unit, name; flags).
    context: dict[str, Any] = field(default_factory=dict)
    # GRANTED entries: the grant as it was created (account.credits.granted shows it).
    grant: GrantRecord | None = None
    # The test clock of the grant's customer: the entry's createdAt (and id) are that clock's time.
    test_clock_id: str | None = None


@dataclass(frozen=True, slots=True)
class ApplicationRecord:
    invoice_id: str
    account_id: str
    customer_id: str
    currency: str
    # COMMITTING (chunks still to write) | PENDING | SETTLING | SETTLED | RELEASING | RELEASED
    status: str
    request_hash: str
    settle_requested: bool
    lines: list[dict[str, Any]]
    allocations: tuple[Any, ...]  # burndown.Allocation, in commit order
    created_at: datetime
    updated_at: datetime
    version: int = 0
    # A chunked settle/release: the status it started from and the grants already written.
    transition_from: str | None = None
    done_grant_ids: tuple[str, ...] = ()
    # Token of the request that created the record (tells a lost reply from a replay).
    created_by: str | None = None


@dataclass(frozen=True, slots=True)
class Page:
    items: list[Any]
    after: str | None
    before: str | None
    total: int


@dataclass(frozen=True, slots=True)
class ScheduleRecord:
    id: str
    account_id: str
    customer_id: str
    template: dict[str, Any]  # the grant template as JSON (GrantTemplate, nulls dropped)
    interval: str
    interval_count: int
    start_at: datetime
    end_at: datetime | None
    expire_after_intervals: int | None
    status: str  # ACTIVE | CANCELED
    next_index: int  # first period not granted (or skipped) yet
    next_grant_at: datetime | None  # its start; None = no more periods (finished or canceled)
    created_at: datetime
    updated_at: datetime
    canceled_at: datetime | None = None
    # The test clock of its customer: its periods are granted when that clock is advanced.
    test_clock_id: str | None = None

    def evolve(self, **changes: Any) -> ScheduleRecord:
        return replace(self, **changes)


@dataclass(frozen=True, slots=True)
class TaxRateRecord:
    """One of the account's tax rates (`/tax-rates`): a grant's taxRateId may name one."""

    id: str
    account_id: str
    name: str
    percentage: str  # a plain decimal string, 0-100, as given (domain/tax_rate_rules.parse_percentage)
    inclusive: bool
    active: bool
    created_at: datetime
    updated_at: datetime

    def evolve(self, **changes: Any) -> TaxRateRecord:
        return replace(self, **changes)


@dataclass(frozen=True, slots=True)
class CustomerEntry:
    """The account's customer directory: one entry per customer that ever had a ledger entry."""

    account_id: str
    customer_id: str
    last_activity_at: datetime


@dataclass(frozen=True, slots=True)
class TestClockRecord:
    """A test clock (`/test-clocks`): its customers live at `frozen_time` instead of the real time.

    While ADVANCING, `frozen_time` is the instant reached so far and `target_time` where the
    advance goes; `lease_until` (real time) is how long the worker that runs it owns it. DELETING:
    its customers' items are being removed in batches."""

    __test__ = False  # not a pytest class

    id: str
    account_id: str
    name: str
    frozen_time: datetime
    status: str  # READY | ADVANCING | DELETING
    created_at: datetime
    updated_at: datetime
    target_time: datetime | None = None
    lease_until: datetime | None = None
    version: int = 0

    def evolve(self, **changes: Any) -> TestClockRecord:
        return replace(self, **changes)
