"""In-memory adapters of the ports, for testing the core without AWS.

They honour the same conditions as the DynamoDB adapter (version checks, create-once), so the
contract tests in tests/contract run unchanged against both."""

from __future__ import annotations

import threading
from datetime import datetime
from decimal import Decimal
from typing import Any

from credits.domain import balance_aggregates as aggregates
from credits.domain.errors import ConcurrentUpdate, InvalidRequest
from credits.domain.records import ApiKeyRecord, ApplicationRecord, ConsumptionRecord, GrantRecord, LedgerRecord, Page


class InMemoryApiKeyStore:
    """The ApiKeyStore port in memory: the same create-once, last-admin and once-a-minute rules."""

    def __init__(self) -> None:
        self.keys: dict[str, ApiKeyRecord] = {}  # hash -> record
        self.touches = 0
        self._lock = threading.RLock()

    def put_new(self, key: ApiKeyRecord) -> bool:
        with self._lock:
            if key.key_hash in self.keys:
                return False
            self.keys[key.key_hash] = key
            return True

    def by_hash(self, key_hash: str) -> ApiKeyRecord | None:
        return self.keys.get(key_hash)

    def get(self, account_id: str, key_id: str) -> ApiKeyRecord | None:
        return next((k for k in self.keys.values() if k.account_id == account_id and k.id == key_id), None)

    def list(self, account_id: str, *, limit: int, after: str | None, before: str | None) -> Page:
        mine = sorted((k for k in self.keys.values() if k.account_id == account_id), key=lambda k: k.id)
        start = next((i + 1 for i, k in enumerate(mine) if k.id == after), 0) if after else 0
        page = mine[start:start + limit]
        more = start + limit < len(mine)
        return Page(items=page, after=page[-1].id if page and more else None, before=None, total=len(mine))

    def revoke(self, revoked: ApiKeyRecord) -> str:
        with self._lock:
            current = self.keys.get(revoked.key_hash)
            if current is None or current.revoked_at is not None:
                return "already"
            admins = [k for k in self.keys.values()
                      if k.account_id == revoked.account_id and k.scope == "admin" and k.revoked_at is None]
            if revoked.scope == "admin" and len(admins) <= 1:
                return "last_admin"
            self.keys[revoked.key_hash] = revoked
            return "revoked"

    def touch(self, key_hash: str, now: datetime, unless_since: datetime) -> None:
        with self._lock:
            key = self.keys.get(key_hash)
            if key is not None and (key.last_used_at is None or key.last_used_at < unless_since):
                self.keys[key_hash] = key.evolve(last_used_at=now)
                self.touches += 1


class InMemoryRepository:
    def __init__(self) -> None:
        self.grants: dict[tuple[str, str], GrantRecord] = {}
        self.deleted_grants: set[tuple[str, str]] = set()
        self.entries: list[LedgerRecord] = []
        self.applications: dict[tuple[str, str], ApplicationRecord] = {}
        self.claims: dict[tuple[str, str], str] = {}  # (account, request key) -> grant id
        self.notices: list[Any] = []  # GrantNotice items written (their INSERT is the event)
        self.consumptions: dict[tuple[str, str], ConsumptionRecord] = {}
        # (account, customer, BalanceKey) -> buckets, moved by every grant write as in DynamoDB
        self.aggregates: dict[tuple[str, str, Any], dict] = {}
        self._lock = threading.RLock()

    def _store_grant(self, grant: GrantRecord, *, delete: bool = False) -> None:
        """Write a grant and move its balance aggregate by the difference (as the DynamoDB
        adapter does in the same transaction)."""
        key = (grant.account_id, grant.id)
        before = aggregates.contribution(self.grants.get(key))
        after = {} if delete else aggregates.contribution(grant)
        item = (grant.account_id, grant.customer_id, aggregates.balance_key_of(grant))
        merged = aggregates.merge([(item, self.aggregates.get(item, {})), (item, aggregates.delta(before, after))])
        self.aggregates[item] = {**{k: Decimal(0) for k in self.aggregates.get(item, {})}, **merged.get(item, {})}
        if delete:
            del self.grants[key]
            self.deleted_grants.add(key)
        else:
            self.grants[key] = grant

    # ---- balance aggregates, consumptions
    def balance_aggregates(self, account_id: str, customer_id: str) -> list:
        return [(k, dict(v)) for (a, c, k), v in self.aggregates.items() if (a, c) == (account_id, customer_id)]

    def balance_aggregates_of(self, account_id: str, customer_id: str, wanted: list) -> dict:
        by_scope = {(k.type, k.scope): v for k, v in self.balance_aggregates(account_id, customer_id)}
        return {w: by_scope.get(w, {}) for w in wanted}

    def get_consumption(self, account_id: str, event_id: str) -> ConsumptionRecord | None:
        return self.consumptions.get((account_id, event_id))

    def commit_consumptions(self, records: list[ConsumptionRecord], grants, entries) -> None:
        with self._lock:
            if any((r.account_id, r.event_id) in self.consumptions for r in records):
                raise ConcurrentUpdate("eventId taken")
            grants, entries = self._checked(grants), list(entries)
            _assert_fits(len(records), grants, entries)
            for record in records:
                self.consumptions[(record.account_id, record.event_id)] = record
            self._write(grants, entries)

    # ---- grants
    def get_grant(self, account_id: str, grant_id: str) -> GrantRecord | None:
        return self.grants.get((account_id, grant_id))

    def grant_deleted(self, account_id: str, grant_id: str) -> bool:
        return (account_id, grant_id) in self.deleted_grants

    def get_customer_grant(self, account_id: str, customer_id: str, grant_id: str) -> GrantRecord | None:
        grant = self.grants.get((account_id, grant_id))
        return grant if grant and grant.customer_id == customer_id else None

    def customer_grants(self, account_id: str, customer_id: str) -> list[GrantRecord]:
        with self._lock:
            return [g for (a, _), g in sorted(self.grants.items()) if a == account_id and g.customer_id == customer_id]

    def burn_candidates(self, account_id: str, customer_id: str, grant_type: str, scope: str, first_page: int = 16):
        from credits.services.balances import spendable_in_burn_order

        return iter(spendable_in_burn_order(self.customer_grants(account_id, customer_id), grant_type, scope))

    def _check_version(self, grant: GrantRecord, expected: int | None) -> None:
        current = self.grants.get((grant.account_id, grant.id))
        if expected is None:
            if current is not None:
                raise ConcurrentUpdate("exists")
        elif current is None or current.version != expected:
            raise ConcurrentUpdate("version")

    def create_grant(self, grant: GrantRecord, entry: LedgerRecord | None, *, request_key: str | None = None,
                     notices=()) -> None:
        with self._lock:
            if request_key is not None and (grant.account_id, request_key) in self.claims:
                raise ConcurrentUpdate("request key already claimed")
            self._check_version(grant, None)
            self._store_grant(grant)
            if entry is not None:
                self.entries.append(entry)
            self.notices.extend(notices)
            if request_key is not None:
                self.claims[(grant.account_id, request_key)] = grant.id

    def claimed_grant(self, account_id: str, request_key: str) -> GrantRecord | None:
        grant_id = self.claims.get((account_id, request_key))
        return self.grants.get((account_id, grant_id)) if grant_id else None

    def save_grant(self, grant: GrantRecord, expected_version: int, entries=(), extra=(), *, notices=()) -> None:
        with self._lock:
            self._check_version(grant, expected_version)
            if any((n.kind, n.grant.id) in {(m.kind, m.grant.id) for m in self.notices} for n in notices):
                raise ConcurrentUpdate("notice already written")
            self._store_grant(grant)
            self.entries.extend(entries)
            self.notices.extend(notices)

    def delete_grant(self, grant: GrantRecord, expected_version: int, entry: LedgerRecord) -> None:
        with self._lock:
            self._check_version(grant, expected_version)
            self._store_grant(grant, delete=True)
            self.entries.append(entry)

    def list_grants(self, account_id: str, query: Any, now: datetime) -> Page:
        items = [g for (a, _), g in self.grants.items() if a == account_id
                 and (query.customer_id is None or g.customer_id == query.customer_id)
                 and (query.type is None or g.type == query.type)
                 and (query.currency is None or g.currency == query.currency)
                 and (query.metric_id is None or g.metric_id == query.metric_id)
                 and (query.status is None or g.status_at(now) == query.status)]
        items.sort(key=lambda g: g.id, reverse=True)
        return _page(items, query, key=lambda g: g.id)

    # ---- ledger
    def list_ledger(self, account_id: str, customer_id: str, query: Any) -> Page:
        items = [e for e in self.entries if e.account_id == account_id and e.customer_id == customer_id
                 and (query.grant_id is None or e.grant_id == query.grant_id)
                 and (query.type is None or e.type == query.type)
                 and (query.start is None or e.created_at >= query.start)
                 and (query.end is None or e.created_at < query.end)]
        items.sort(key=lambda e: e.id)
        return _page(items, query, key=lambda e: e.id, reverse=False)

    def ledger_between(self, account_id: str, start, end, *, customer_id: str | None = None) -> list[LedgerRecord]:
        return sorted((e for e in self.entries if e.account_id == account_id
                       and (customer_id is None or e.customer_id == customer_id)
                       and (start is None or e.created_at >= start) and e.created_at < end),
                      key=lambda e: (e.created_at, e.id))

    def report_snapshots(self, account_id: str, customer_id: str | None, *, before) -> list:
        stored = getattr(self, "snapshots", {}).get((account_id, customer_id), {})
        return [(month, totals) for month, totals in sorted(stored.items(), key=lambda kv: kv[0]) if month < before]

    def put_report_snapshot(self, account_id: str, customer_id: str | None, month, totals) -> None:
        from credits.domain.report_rules import Totals

        if not hasattr(self, "snapshots"):
            self.snapshots = {}
        # Stored as the DynamoDB adapter stores it: serialized.
        self.snapshots.setdefault((account_id, customer_id), {})[month] = Totals.from_json(totals.to_json())

    def first_ledger_instant(self, account_id: str, *, customer_id: str | None = None):
        mine = [e.created_at for e in self.entries if e.account_id == account_id
                and (customer_id is None or e.customer_id == customer_id)]
        return min(mine) if mine else None

    def grant_ledger(self, account_id: str, customer_id: str, grant_id: str) -> list[LedgerRecord]:
        return sorted((e for e in self.entries if e.account_id == account_id and e.grant_id == grant_id), key=lambda e: e.id)

    # ---- applications
    def get_application(self, account_id: str, invoice_id: str) -> ApplicationRecord | None:
        return self.applications.get((account_id, invoice_id))

    def commit_application(self, app: ApplicationRecord, expected_version: int | None, grants, entries) -> None:
        with self._lock:
            current = self.applications.get((app.account_id, app.invoice_id))
            if (expected_version is None and current is not None) or (
                    expected_version is not None and (current is None or current.version != expected_version)):
                raise ConcurrentUpdate("application")
            grants, entries = self._checked(grants), list(entries)
            _assert_fits(1, grants, entries)
            self.applications[(app.account_id, app.invoice_id)] = app
            self._write(grants, entries)

    def _checked(self, grants) -> list:
        """The (grant, expected version) pairs of a transaction, each version checked."""
        grants = list(grants)
        for grant, version in grants:
            self._check_version(grant, version)
        return grants

    def _write(self, grants: list, entries) -> None:
        for grant, _ in grants:
            self._store_grant(grant)
        self.entries.extend(entries)


def _page(items: list, query: Any, *, key, reverse: bool = True) -> Page:
    """Cursor = the key of the boundary item (plain, since this fake has no tamper concerns)."""
    if query.after:
        keys = [key(i) for i in items]
        if query.after not in keys:
            raise InvalidRequest("after is not a valid cursor", field="after")
        start = keys.index(query.after) + 1
        chunk = items[start:start + query.limit]
        before = key(chunk[0]) if chunk else None
        after = key(chunk[-1]) if start + query.limit < len(items) and chunk else None
    elif query.before:
        keys = [key(i) for i in items]
        if query.before not in keys:
            raise InvalidRequest("before is not a valid cursor", field="before")
        end = keys.index(query.before)
        begin = max(0, end - query.limit)
        chunk = items[begin:end]
        before = key(chunk[0]) if begin > 0 and chunk else None
        after = key(chunk[-1]) if chunk else None
    else:
        chunk = items[: query.limit]
        before = None
        after = key(chunk[-1]) if len(items) > query.limit else None
    return Page(items=chunk, after=after, before=before, total=len(items))


def ledger_invariant_violations(grants: list[GrantRecord], entries: list[LedgerRecord],
                                applications: list[ApplicationRecord]) -> list[str]:
    """The contract's v2 ledger invariant, for every grant: granted + adjustedUp - adjustedDown -
    applied - consumed + released - expired - voided - rolledOver = currentBalance (granted is the
    GRANTED entry: none while a grant awaits payment), and pendingAmount = what PENDING
    applications hold of it."""
    from collections import defaultdict
    from decimal import Decimal

    from credits.domain.application_rules import by_grant, transition_work
    from credits.domain.ledger_rules import ledger_balance

    problems = []
    pending: dict[str, Decimal] = defaultdict(Decimal)
    for app in applications:
        if app.status in ("PENDING", "COMMITTING", "SETTLING") or (app.status == "RELEASING" and app.transition_from == "PENDING"):
            for grant_id, amount in by_grant(transition_work(app)).items():
                pending[grant_id] += amount
    for grant in grants:
        own = [e for e in entries if e.grant_id == grant.id]
        total = ledger_balance(own)
        if total != grant.current_balance:
            problems.append(f"{grant.id}: ledger says {total}, balance is {grant.current_balance}")
        if pending[grant.id] != grant.pending_amount:
            problems.append(f"{grant.id}: pending {grant.pending_amount}, applications hold {pending[grant.id]}")
        if grant.current_balance < 0 or grant.pending_amount < 0:
            problems.append(f"{grant.id}: negative balance")
    return problems


class InMemoryWatchStore:
    """Balance alerts and top-up rules in memory, with the DynamoDB adapter's conditions
    (version checks, the top-up's create-once claim in the rule's own transaction)."""

    def __init__(self, repo: InMemoryRepository) -> None:
        self.repo = repo
        self.watches: dict[tuple[str, str], Any] = {}

    def put_new(self, watch) -> None:
        self.watches[(watch.account_id, watch.id)] = watch

    def get(self, account_id: str, watch_id: str, kind: str):
        watch = self.watches.get((account_id, watch_id))
        return watch if watch is not None and watch.kind == kind else None

    def save(self, watch, expected_version: int, extra=None) -> None:
        with self.repo._lock:
            current = self.watches.get((watch.account_id, watch.id))
            if current is None or current.version != expected_version:
                raise ConcurrentUpdate("watch version")
            self.watches[(watch.account_id, watch.id)] = watch

    def delete(self, watch) -> None:
        self.watches.pop((watch.account_id, watch.id), None)

    def of_balance(self, account_id: str, customer_id: str, grant_type: str, scope: str) -> list:
        return [w for (a, _), w in sorted(self.watches.items()) if a == account_id and w.customer_id == customer_id
                and w.type == grant_type and w.scope == scope]

    def list(self, account_id: str, kind: str, *, customer_id, limit, after, before) -> Page:
        items = sorted((w for (a, _), w in self.watches.items() if a == account_id and w.kind == kind
                        and customer_id in (None, w.customer_id)), key=lambda w: w.id, reverse=True)
        return Page(items=items[:limit], after=None, before=None, total=len(items))

    def top_up(self, rule, expected_version: int, grant, entry, claim: str, notices=()) -> None:
        with self.repo._lock:
            current = self.watches.get((rule.account_id, rule.id))
            if current is None or current.version != expected_version:
                raise ConcurrentUpdate("watch version")
            self.repo.create_grant(grant, entry, request_key=claim, notices=notices)
            self.watches[(rule.account_id, rule.id)] = rule
class InMemoryTestClockStore:
    """The TestClockStore port in memory (services/ports.py), with the DynamoDB adapter's
    conditions: versioned saves, attach only onto an unchanged clock and a customer on no clock.
    `due` (clock id -> instants of due work) stands in for the clock's queues; `items` (customer
    -> how many items it still has) for what a deletion removes."""

    def __init__(self) -> None:
        self.clocks: dict[tuple[str, str], Any] = {}
        self.members: dict[tuple[str, str], str] = {}
        self.busy: set[tuple[str, str]] = set()  # customers with something stored already
        self.due: dict[str, list[datetime]] = {}
        self.items: dict[tuple[str, str], int] = {}
        self._lock = threading.RLock()

    def put_new(self, clock: Any) -> None:
        with self._lock:
            if (clock.account_id, clock.id) in self.clocks:
                raise ConcurrentUpdate("exists")
            self.clocks[(clock.account_id, clock.id)] = clock

    def get(self, account_id: str, clock_id: str) -> Any:
        return self.clocks.get((account_id, clock_id))

    def save(self, clock: Any, expected_version: int) -> None:
        with self._lock:
            current = self.clocks.get((clock.account_id, clock.id))
            if current is None or current.version != expected_version:
                raise ConcurrentUpdate("version")
            self.clocks[(clock.account_id, clock.id)] = clock

    def list(self, account_id: str, *, limit: int, after: str | None, before: str | None) -> Page:
        from types import SimpleNamespace

        mine = sorted((c for (a, _), c in self.clocks.items() if a == account_id), key=lambda c: c.id, reverse=True)
        return _page(mine, SimpleNamespace(limit=limit, after=after, before=before), key=lambda c: c.id)

    def at_work(self, until: datetime):
        return iter([(c.account_id, c.id) for c in self.clocks.values()
                     if c.status != "READY" and (c.lease_until or c.updated_at) <= until])

    def membership(self, account_id: str, customer_id: str) -> str | None:
        return self.members.get((account_id, customer_id))

    def customer_has_anything(self, account_id: str, customer_id: str) -> bool:
        return (account_id, customer_id) in self.busy or (account_id, customer_id) in self.members

    def attach(self, clock: Any, customer_id: str) -> None:
        with self._lock:
            current = self.clocks.get((clock.account_id, clock.id))
            if current is None or current.version != clock.version or (clock.account_id, customer_id) in self.members:
                raise ConcurrentUpdate("condition")
            self.members[(clock.account_id, customer_id)] = clock.id

    def customers(self, account_id: str, clock_id: str, *, limit: int, after: str | None, before: str | None) -> Page:
        from types import SimpleNamespace

        return _page(self.all_customers(account_id, clock_id), SimpleNamespace(limit=limit, after=after, before=before),
                     key=lambda c: c, reverse=False)

    def all_customers(self, account_id: str, clock_id: str) -> list[str]:
        return sorted(c for (a, c), k in self.members.items() if a == account_id and k == clock_id)

    def next_due(self, clock_id: str) -> datetime | None:
        return min(self.due.get(clock_id) or [None], key=lambda t: (t is None, t))

    def delete_some(self, account_id: str, clock_id: str, customer_id: str) -> int:
        with self._lock:
            left = self.items.get((account_id, customer_id), 0)
            if left == 0:
                self.members.pop((account_id, customer_id), None)
                return 0
            self.items[(account_id, customer_id)] = max(0, left - 25)
            return min(left, 25)

    def delete_clock(self, clock: Any) -> None:
        with self._lock:
            current = self.clocks.get((clock.account_id, clock.id))
            if current is None or current.version != clock.version:
                raise ConcurrentUpdate("version")
            del self.clocks[(clock.account_id, clock.id)]


def _assert_fits(records: int, grants: list, entries: list) -> None:
    """What DynamoDB would refuse: a transaction of more than 100 items (with at most one
    balance-aggregate update per customer balance the grants belong to)."""
    balances = {(g.customer_id, aggregates.balance_key_of(g)) for g, _ in grants}
    items = records + len(grants) + len(entries) + len(balances)
    assert items <= 100, f"{items} items in one transaction"
