"""Ports: every method the use cases need from storage and from event delivery. The DynamoDB
adapters (store/) and the in-memory fakes (tests/fakes.py) implement them; the use cases see
nothing else of either."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

from credits.domain.expiry_rules import DepletionNotice, ExpiringNotice, GrantKey, Queue
from credits.domain.records import (
    ApiKeyRecord,
    ApplicationRecord,
    ConsumptionRecord,
    GrantNotice,
    GrantRecord,
    LedgerRecord,
    Page,
    ScheduleRecord,
    TaxRateRecord,
    TestClockRecord,
)


@dataclass(frozen=True)
class GrantQuery:
    """GET /credit-grants: filters and one page."""

    customer_id: str | None = None
    status: str | None = None
    type: str | None = None
    currency: str | None = None
    metric_id: str | None = None
    limit: int = 20
    after: str | None = None
    before: str | None = None


@dataclass(frozen=True)
class LedgerQuery:
    """GET /customers/{id}/credit-transactions: filters and one page."""

    grant_id: str | None = None
    type: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    limit: int = 20
    after: str | None = None
    before: str | None = None


class Repository(Protocol):
    # ------------------------------------------------------------------ grants
    def get_grant(self, account_id: str, grant_id: str) -> GrantRecord | None: ...
    def grant_deleted(self, account_id: str, grant_id: str) -> bool:
        """Whether a grant of this id existed and was deleted (DELETE /credit-grants/{id})."""
        ...
    def get_customer_grant(self, account_id: str, customer_id: str, grant_id: str) -> GrantRecord | None: ...
    def customer_grants(self, account_id: str, customer_id: str) -> list[GrantRecord]: ...
    def burn_candidates(self, account_id: str, customer_id: str, grant_type: str, scope: str,
                        first_page: int = 16) -> Iterator[GrantRecord]:
        """Grants of one CASH currency / USAGE metric that may still be spent (balance > 0, not
        voided, expiry not written), lazily, in burn-down order (burndown.grant_sort_key)."""
        ...
    def create_grant(self, grant: GrantRecord, entry: LedgerRecord | None, *, request_key: str | None = None,
                     notices: Iterable[GrantNotice] = ()) -> None:
        """The grant, its GRANTED entry (None: a grant awaiting payment), its notices and, with
        `request_key`, its create-once claim: one transaction that fails (ConcurrentUpdate) when
        the key is already claimed."""
        ...
    def claimed_grant(self, account_id: str, request_key: str) -> GrantRecord | None:
        """The grant created under `request_key` (within a day), if any."""
        ...
    def save_grant(self, grant: GrantRecord, expected_version: int, entries: Iterable[LedgerRecord] = (),
                   extra: Iterable[dict[str, Any]] = (), *, notices: Iterable[GrantNotice] = ()) -> None:
        """The grant conditioned on the version read, with its entries and notices (each notice
        once: a second one of the same grant and kind fails with ConcurrentUpdate)."""
        ...
    def delete_grant(self, grant: GrantRecord, expected_version: int, entry: LedgerRecord) -> None: ...
    def list_grants(self, account_id: str, query: GrantQuery, now: datetime) -> Page: ...
    # ------------------------------------------------------------------ applications
    def get_application(self, account_id: str, invoice_id: str) -> ApplicationRecord | None: ...
    def commit_application(self, app: ApplicationRecord, expected_version: int | None,
                           grants: Iterable[tuple[GrantRecord, int]], entries: Iterable[LedgerRecord]) -> None: ...

    # ------------------------------------------------------------------ balance aggregates, consumptions
    def balance_aggregates(self, account_id: str, customer_id: str) -> list[tuple[Any, dict]]:
        """Every balance aggregate of a customer: (BalanceKey, buckets), one Query."""
        ...
    def balance_aggregates_of(self, account_id: str, customer_id: str,
                              wanted: list[tuple[str, str]]) -> dict[tuple[str, str], dict]:
        """The buckets of these (type, scope) balances (empty for one never granted)."""
        ...
    def get_consumption(self, account_id: str, event_id: str) -> ConsumptionRecord | None: ...
    def commit_consumptions(self, records: Iterable[ConsumptionRecord], grants: Iterable[tuple[GrantRecord, int]],
                            entries: Iterable[LedgerRecord]) -> None:
        """Each consumption create-once on its eventId, grants conditioned on their versions,
        entries, aggregates: one transaction (ConcurrentUpdate when any condition fails)."""
        ...

    # ------------------------------------------------------------------ ledger and reports
    def list_ledger(self, account_id: str, customer_id: str, query: LedgerQuery) -> Page: ...
    def grant_ledger(self, account_id: str, customer_id: str, grant_id: str) -> list[LedgerRecord]: ...
    def find_entry(self, account_id: str, entry_id: str) -> LedgerRecord | None: ...
    def ledger_between(self, account_id: str, start: datetime | None, end: datetime, *,
                       customer_id: str | None = None) -> list[LedgerRecord]: ...
    def first_ledger_instant(self, account_id: str, *, customer_id: str | None = None) -> datetime | None: ...
    def report_snapshots(self, account_id: str, customer_id: str | None, *, before: datetime) -> list[tuple[datetime, Any]]: ...
    def put_report_snapshot(self, account_id: str, customer_id: str | None, month: datetime, totals: Any) -> None: ...


class ApiKeyStore(Protocol):
    """The account's API keys, stored by hash (adapter: store/api_keys_store.py)."""

    def put_new(self, key: ApiKeyRecord) -> bool:
        """Store a new key (an admin one counts in the account's admins); False when a key of
        this hash is stored already."""
        ...
    def by_hash(self, key_hash: str) -> ApiKeyRecord | None: ...
    def get(self, account_id: str, key_id: str) -> ApiKeyRecord | None: ...
    def list(self, account_id: str, *, limit: int, after: str | None, before: str | None) -> Page:
        """A Page of ApiKeyRecord, oldest first."""
        ...
    def revoke(self, revoked: ApiKeyRecord) -> str:
        """"revoked" | "already" (revoked before) | "last_admin" (nothing written): one transaction
        that cannot leave the account without an unrevoked admin key."""
        ...
    def touch(self, key_hash: str, now: datetime, unless_since: datetime) -> None:
        """lastUsedAt = now unless it is at or after `unless_since` already."""
        ...


class AuditStore(Protocol):
    """The account's audit trail (adapter: store/audit_store.py), written from the table stream."""

    def record_change(self, old: dict[str, Any] | None, new: dict[str, Any] | None) -> bool:
        """Store the audit event of one committed write (its item's old and new images), if the
        write is one; False when it is none or is stored already (a redelivery)."""
        ...
    def list(self, account_id: str, *, resource_id: str | None, actor_id: str | None, actor_type: str | None,
             start: datetime | None, end: datetime | None, limit: int, after: str | None, before: str | None) -> Page:
        """A Page of AuditRecord, newest first."""
        ...


class StripeStore(Protocol):
    """The /v1 view's Stripe-style pages (cursor = an object id; adapter: store/stripe_store.py)."""

    def list_cash_grants(self, account_id: str, customer_id: str | None, *, limit: int,
                         starting_after: str | None = None, ending_before: str | None = None,
                         ) -> tuple[list[GrantRecord], bool]:
        """CASH grants (the /v1 view), newest first, Stripe-style paging; (page, has_more)."""
        ...
    def list_balance_entries(self, account_id: str, customer_id: str, *, types: tuple[str, ...], grant_ids: set[str],
                             limit: int, starting_after: str | None = None, ending_before: str | None = None,
                             ) -> tuple[list[LedgerRecord], bool]:
        """Entries of `types` with a non-zero amount of the grants in `grant_ids` (the /v1 view)."""
        ...


class ScheduleStore(Protocol):
    """Recurring-grant schedules (adapter: store/schedules_store.py)."""

    def put_new(self, schedule: ScheduleRecord) -> None: ...
    def get(self, account_id: str, schedule_id: str) -> ScheduleRecord | None: ...
    def list(self, account_id: str, *, customer_id: str | None, limit: int, after: str | None,
             before: str | None) -> Page: ...
    def due(self, now: datetime) -> Iterator[tuple[str, str]]:
        """(account, schedule id) of every ACTIVE schedule whose next period has begun (an index, never a Scan)."""
        ...
    def grant_period(self, schedule: ScheduleRecord, expected_index: int, next_index: int, next_at: datetime | None,
                     grant: GrantRecord, entry: LedgerRecord, now: datetime) -> None:
        """One transaction: the period's grant (create-once) and the schedule advanced past it."""
        ...
    def advance(self, schedule: ScheduleRecord, expected_index: int, next_index: int, next_at: datetime | None,
                now: datetime) -> None: ...
    def cancel(self, canceled: ScheduleRecord) -> None: ...


class CustomerDirectory(Protocol):
    """The account's customers with credits (adapter: store/customers_store.py), moved forward
    from the table stream by each committed ledger entry."""

    def note_activity(self, entries: list[LedgerRecord]) -> None:
        """Move the customers of these committed entries forward (only ever forwards)."""
        ...

    def list_customers(self, account_id: str, *, prefix: str | None, limit: int, after: str | None,
                       before: str | None) -> Page:
        """A Page of CustomerEntry: with `prefix`, the customers whose id starts with it, in id
        order; without, the most recent activity first."""
        ...


class TaxRateStore(Protocol):
    """The account's tax rates (adapter: store/tax_rates_store.py)."""

    def put_new_tax_rate(self, rate: TaxRateRecord) -> None: ...
    def get_tax_rate(self, account_id: str, tax_rate_id: str) -> TaxRateRecord | None: ...
    def update_tax_rate(self, account_id: str, tax_rate_id: str, changes: dict[str, Any]) -> TaxRateRecord | None:
        """Set the record fields in `changes` on an existing rate; None when there is none."""
        ...
    def list_tax_rates(self, account_id: str, *, limit: int, after: str | None, before: str | None) -> Page:
        """A Page of TaxRateRecord, oldest first."""
        ...


class SweepStore(Protocol):
    """What the sweep needs from storage (adapter: store/sweeps.py)."""

    shards: int  # the queues' shard count

    def due_keys(self, queue: Queue, shard: int, until: datetime, page_size: int) -> Iterator[GrantKey]:
        """Keys of the grants in `queue`'s shard whose due instant is <= until, oldest first,
        read lazily page by page (so stopping early reads no more)."""
        ...

    def read_grant(self, key: GrantKey) -> GrantRecord | None:
        """The grant item, strongly consistent (the indexes are only eventually consistent)."""
        ...

    def save_expired(self, grant: GrantRecord, expected_version: int, entries: Iterable[LedgerRecord]) -> None: ...

    def save_noticed(self, grant: GrantRecord, expected_version: int, notice: ExpiringNotice) -> None: ...

    def save_rolled_over(self, grant: GrantRecord, expected_version: int, entries: Iterable[LedgerRecord],
                         rollover: GrantRecord, granted: LedgerRecord) -> None:
        """The expired grant (conditioned on its version), its ROLLED_OVER / EXPIRED entries, and
        the rollover grant with its GRANTED entry (create-once), in one transaction."""
        ...

    # The methods below are optional: a store without the batch ones is swept one grant at a
    # time, one without burn_candidates / save_depletion_notice announces no balance_depleted.
    # A batch write raises ConcurrentUpdate when any of its conditions fails (nothing is written).
    def read_grants(self, keys: list[GrantKey]) -> dict[GrantKey, GrantRecord | None]: ...
    def save_expired_batch(self, batch: list[tuple[GrantRecord, int, Iterable[LedgerRecord]]]) -> None: ...
    def save_noticed_batch(self, batch: list[tuple[GrantRecord, int, ExpiringNotice]]) -> None: ...
    def burn_candidates(self, account_id: str, customer_id: str, grant_type: str, scope: str) -> Iterator[GrantRecord]: ...
    def save_depletion_notice(self, notice: DepletionNotice) -> None: ...


class UnfinishedStore(Protocol):
    """What the recovery run needs from storage (adapter: store/sweeps.py): the sparse queue of
    applications whose chunked write is under way."""

    shards: int

    def due_keys(self, queue: Literal["UNFINISHED"], shard: int, until: datetime) -> Iterator[tuple[str, str]]:
        """Keys of the applications left unfinished since before `until`, oldest first."""
        ...

    def read_application(self, key: tuple[str, str]) -> ApplicationRecord | None: ...


class TestClockStore(Protocol):
    """Test clocks and their customers (adapter: store/test_clocks_store.py)."""

    def put_new(self, clock: TestClockRecord) -> None: ...
    def get(self, account_id: str, clock_id: str) -> TestClockRecord | None: ...
    def save(self, clock: TestClockRecord, expected_version: int) -> None:
        """Replace the clock if still at `expected_version` (ConcurrentUpdate otherwise)."""
        ...
    def list(self, account_id: str, *, limit: int, after: str | None, before: str | None) -> Page: ...
    def at_work(self, until: datetime) -> Iterator[tuple[str, str]]:
        """(account, clock id) of clocks ADVANCING / DELETING whose worker's lease ended by `until`."""
        ...
    def membership(self, account_id: str, customer_id: str) -> str | None:
        """The test clock the customer is on, or None."""
        ...
    def customer_has_anything(self, account_id: str, customer_id: str) -> bool: ...
    def attach(self, clock: TestClockRecord, customer_id: str) -> None:
        """Put the customer on the clock, if the clock is still at its version and the customer on
        no clock (ConcurrentUpdate otherwise)."""
        ...
    def customers(self, account_id: str, clock_id: str, *, limit: int, after: str | None,
                  before: str | None) -> Page: ...
    def all_customers(self, account_id: str, clock_id: str) -> list[str]: ...
    def next_due(self, clock_id: str) -> datetime | None:
        """The earliest instant at which the clock's queues hold due work (None: nothing)."""
        ...
    def delete_some(self, account_id: str, clock_id: str, customer_id: str) -> int:
        """Remove a bounded batch of the customer's items; 0 once nothing of it is left."""
        ...
    def delete_clock(self, clock: TestClockRecord) -> None: ...


class EventPublisher(Protocol):
    def publish(self, events: Sequence[Any]) -> list[bool]:
        """Publish events (the contract's envelope); return per-event success."""
        ...
