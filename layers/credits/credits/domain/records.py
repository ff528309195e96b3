"""Domain records: what the core reasons about (Decimals and datetimes, never strings).

Separate from the API models (wire shapes) and from the store's items (DynamoDB shapes); the
mapping to each lives in `api/views.py` and `store/items.py`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from credits.domain.actors import Actor, current_actor
from credits.domain.ledger_rules import EntryType

GrantType = Literal["CASH", "USAGE"]
Category = Literal["PAID", "PROMOTIONAL"]
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
    # requirePayment: usable only once its invoice is paid (no GRANTED entry, balance 0 until then).
    awaiting_payment: bool = False
    require_payment: bool = False
    payment_invoice_id: str | None = None
    # A schedule's grant with rollover: at expiry up to rollover_max moves into a new grant that
    # expires one interval (rollover_interval x rollover_interval_count) later.
    rollover_max: Decimal | None = None
    rollover_interval: str | None = None
    rollover_interval_count: int | None = None
    # A rollover grant: the grant whose balance it carries on (it does not roll over again).
    rolled_over_from: str | None = None
    # The store's own note of what this grant, as read, contributes to its balance aggregate
    # (domain/balance_aggregates.py): a write adds the difference. Not part of the grant's value.
    stored: Any = field(default=None, compare=False, repr=False)
    # The top-up rule (/credit-top-up-rules) that made it, if any.
    top_up_rule_id: str | None = None
    # Who last changed what no ledger entry records (name, metadata, priority: PATCH).
    updated_by: Actor | None = None
    # The test clock its customer is on (`/test-clocks`): its due work is the clock's, not the sweep's.
    test_clock_id: str | None = None

    def evolve(self, **changes: Any) -> GrantRecord:
        return replace(self, **changes)

    def status_at(self, now: datetime) -> str:
        if self.voided_at is not None:
            return "VOIDED"
        if self.expired_at is not None or (self.expires_at is not None and self.expires_at <= now):
            return "EXPIRED"
        if self.awaiting_payment:
            return "AWAITING_PAYMENT"
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
    # Who made the change (domain/actors.py): the actor current when the entry was made.
    actor: Actor | None = field(default_factory=current_actor)
    # The test clock of the grant's customer: the entry's createdAt (and id) are that clock's time.
    test_clock_id: str | None = None


@dataclass(frozen=True, slots=True)
class GrantNotice:
    """An event about a grant that no ledger entry carries (its item's INSERT is the event):
    INVOICE_REQUESTED when a grant that requires payment is made (it has no GRANTED entry yet),
    PAYMENT_FAILED when its payment fails (it is voided with nothing to void)."""

    kind: str
    grant: GrantRecord
    created_at: datetime
    actor: Actor | None = field(default_factory=current_actor)


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
    # ... and the allocations after those (application_rules.transition_work) already written.
    done_allocations: int = 0
    # Token of the request that created the record (tells a lost reply from a replay).
    created_by: str | None = None
    # Who made the application (each settle / release entry names its own actor).
    actor: Actor | None = field(default_factory=current_actor)


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
    # Each period grant's rollover cap (None: no rollover), in the grant's unit.
    rollover_max: Decimal | None = None
    # Who made the schedule; `canceled_by` who canceled it.
    actor: Actor | None = field(default_factory=current_actor)
    canceled_by: Actor | None = None
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
    actor: Actor | None = field(default_factory=current_actor)

    def evolve(self, **changes: Any) -> TaxRateRecord:
        return replace(self, **changes)


@dataclass(frozen=True, slots=True)
class CustomerEntry:
    """The account's customer directory: one entry per customer that ever had a ledger entry."""

    account_id: str
    customer_id: str
    last_activity_at: datetime


@dataclass(frozen=True, slots=True)
class ConsumptionRecord:
    """A real-time consumption (`POST /credit-consumptions`): settled at once, keyed by eventId."""

    id: str
    event_id: str
    account_id: str
    customer_id: str
    metric_id: str | None
    currency: str | None
    quantity: Decimal | None
    amount: Decimal | None
    unit_price: Decimal | None
    mode: str
    covered_units: Decimal | None
    covered_value: Decimal | None
    uncovered_units: Decimal | None
    uncovered_value: Decimal | None
    allocations: tuple[Any, ...]  # burndown.Allocation
    request_hash: str
    created_at: datetime
    # Who sent it (domain/actors.py): an API key, or the command / queue message's source.
    actor: Actor | None = field(default_factory=current_actor)
    # The balance rows it drew from, right after it (balances.BalanceTotals), stored with it so a
    # replay and GET answer what the first answer said; empty for one stored before they were.
    balances: tuple[Any, ...] = ()


@dataclass(frozen=True, slots=True)
class WatchRecord:
    """A balance alert (kind ALERT) or an automatic top-up rule (kind TOP_UP) on one customer
    balance; `state` is where the balance was last seen against the threshold."""

    id: str
    kind: str  # ALERT | TOP_UP
    account_id: str
    customer_id: str
    type: GrantType
    currency: str | None
    metric_id: str | None
    threshold: Decimal
    state: str  # ABOVE | BELOW
    created_at: datetime
    updated_at: datetime
    version: int = 0
    # TOP_UP only
    grant: dict[str, Any] | None = None  # the grant template (JSON, nulls dropped)
    max_per_month: int = 0
    status: str = "ACTIVE"
    month: str | None = None  # YYYY-MM of the top-ups counted in `month_count`
    month_count: int = 0
    # Who made the alert or rule.
    actor: Actor | None = field(default_factory=current_actor)
    # Who last changed its terms (PATCH) or deleted it: the audit trail's actor.
    changed_by: Actor | None = None
    deleted_at: datetime | None = None  # set just before it is deleted (the audit trail's deletion)

    @property
    def scope(self) -> str:
        return (self.currency if self.type == "CASH" else self.metric_id) or ""

    def evolve(self, **changes: Any) -> WatchRecord:
        return replace(self, **changes)


@dataclass(frozen=True, slots=True)
class ApiKeyRecord:
    """One API key of an account: the key itself is never stored, only its SHA-256 hash."""

    id: str
    account_id: str
    name: str
    scope: str  # read | write | admin (domain/access.py)
    key_hash: str
    created_at: datetime
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None
    actor: Actor | None = field(default_factory=current_actor)  # who made it (None: the key tool)
    revoked_by: Actor | None = None

    def evolve(self, **changes: Any) -> ApiKeyRecord:
        return replace(self, **changes)


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One change of the account (`GET /audit-events`): who, what, when, which resource, why."""

    id: str
    account_id: str
    occurred_at: datetime
    actor: Actor | None
    action: str  # "<resource type>.<what happened>", e.g. credit_grant.voided, api_key.revoked
    resource_type: str
    resource_id: str
    customer_id: str | None = None
    reason: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    # Orders changes of the same second: the ledger entry's id (a ULID), or the audit id.
    sequence: str = ""


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
    # Who made it, and who last asked it to advance or be deleted (the audit trail's actors).
    actor: Actor | None = field(default_factory=current_actor)
    changed_by: Actor | None = None

    def evolve(self, **changes: Any) -> TestClockRecord:
        return replace(self, **changes)
