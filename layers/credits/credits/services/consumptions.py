"""Real-time consumption: usage draws down credits as it happens, exactly once per eventId.

Design (README "Real-time consumption"):
- A consumption is a one-line invoice that settles at once: the same burn-down as an
  application (services/balances.plan_reading over the balances in burn-down order), then ONE
  transaction: the consumption item (create-once on its eventId), every grant drawn on
  (conditioned on the version read) with its CONSUMED entry, and the balance aggregates.
  A lost condition re-reads and plans again (services/retry.backoff), so credits are never
  spent twice; a consumption that finds its eventId taken is a replay (same body: the stored
  one, 200) or a conflict (another body: 409).
- STRICT writes nothing unless usable credits cover all of it (402 insufficient_credits).
- The entitlement check reads the customer's balance aggregates: one Query, whatever the number
  of grants (domain/balance_aggregates.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from pydantic import ValidationError

from credits import telemetry
from credits.domain import balance_aggregates as aggregates
from credits.domain.actors import Actor, acting_as
from credits.domain.application_rules import by_grant
from credits.domain.balances import BalanceTotals
from credits.domain.burndown import Allocation
from credits.domain.clock import now_for, utcnow
from credits.domain.consumption_rules import (
    LINE_ID,
    ConsumptionInput,
    batch_key,
    consumption_input,
    coverage,
    fits_one_transaction,
    request_hash,
    together_parts,
    within_limit,
)
from credits.domain.errors import (
    ConcurrentUpdate,
    Conflict,
    InsufficientCredits,
    NotFound,
    RetryableConflict,
    ServiceError,
)
from credits.domain.grant_rules import entry, grant_context
from credits.domain.ids import ulid
from credits.domain.records import ConsumptionRecord, GrantRecord, LedgerRecord
from credits.models.consumptions import ConsumeRequest
from credits.models.errors import error_body, validation_details
from credits.services.balances import BalanceReader, plan_reading
from credits.services.retry import backoff

_BUSY = "credits are being changed by other requests; retry"
_EXPIRING = timedelta(days=30)
# Grants read first from a balance (LSI1 page): a consumption is small, one grant usually covers it.
FIRST_PAGE = 2
# A run of the queue's consumptions is tried this many times as one transaction before they go one by one.
_TOGETHER_ATTEMPTS = 3


def new_consumption_id() -> str:
    return f"ccn_{ulid()}"


class ConsumptionService:
    def __init__(self, repo, *, attempts: int = 30, clock: Callable[[], datetime] = utcnow):
        self.repo = repo
        self.attempts = attempts
        self.clock = clock

    # ---------------------------------------------------------------- consume
    def consume(self, account_id: str, request: ConsumeRequest, *, now: datetime | None = None,
                ) -> tuple[ConsumptionRecord, list[BalanceTotals], bool]:
        """The consumption, the balances it drew from (after it), and whether this call made it
        (201) or replayed it (200). `now`: the request's instant for this customer, when the
        caller has it (a batch reads it once per customer)."""
        item = consumption_input(request)
        digest = request_hash(item)
        # The request's instant, read once (a test clock's customer: its clock's time, one read).
        now = now or now_for(self.clock, account_id, item.customer_id)
        conflicts = 0
        while True:
            try:
                record = self._commit(account_id, item, digest, now)
                telemetry.count("ConsumptionsCreated")
                return record, self._balances_after(record, now), True
            except ConcurrentUpdate:
                existing = self.repo.get_consumption(account_id, item.event_id)
                if existing is not None:
                    return self._replay(existing, digest), self._balances_after(existing, now), False
                conflicts += 1
                if conflicts >= self.attempts:
                    raise RetryableConflict(_BUSY) from None
                backoff(conflicts)

    def _replay(self, existing: ConsumptionRecord, digest: str) -> ConsumptionRecord:
        if existing.request_hash != digest:
            raise Conflict(f"eventId {existing.event_id} was already consumed with a different body", field="eventId")
        return existing

    def _commit(self, account_id: str, item: ConsumptionInput, digest: str, now: datetime) -> ConsumptionRecord:
        balances = [BalanceReader(self.repo, account_id, item.customer_id, t, s, first_page=FIRST_PAGE)
                    for t, s in item.balances()]
        allocations = within_limit(plan_reading([item.line()], balances, item.burn_currency, now))
        if any(b.moved for b in balances):
            raise ConcurrentUpdate("a grant moved in the burn-down order while it was read")
        covered = coverage(item, allocations)
        if item.mode == "STRICT" and not covered.complete:
            existing = self.repo.get_consumption(account_id, item.event_id)
            if existing is not None:  # a replay of one that went through while there was credit
                raise ConcurrentUpdate("eventId taken")
            raise self._insufficient(account_id, item, covered, now)
        drawing = _Drawing(balances, now, self.repo.balance_aggregates_of(account_id, item.customer_id, item.balances()))
        record = drawing.add(account_id, item, digest, allocations, covered)
        updates, entries = drawing.writes()
        self.repo.commit_consumptions([record], updates, entries)
        return record

    # ---------------------------------------------------------------- a hot customer's queue batch
    def consume_together(self, batch: list[tuple[str, ConsumeRequest, Actor]]) -> dict[int, ConsumptionRecord]:
        """The queue's batch, where several consumptions draw on one customer balance: each such
        run (consumption_rules.batch_key) is committed as one transaction, so the balance's hot
        items (its grants and aggregate) are written once per run instead of once per consumption
        (README "A hot customer"). Returns the batch indexes committed that way; the rest (a lone
        consumption, an invalid one, a replay, a STRICT one not covered) go one by one."""
        runs: dict[tuple[Any, ...], list[tuple[int, ConsumptionInput, Actor]]] = {}
        for index, (account_id, request, actor) in enumerate(batch):
            try:
                item = consumption_input(request)
            except ServiceError:
                continue
            runs.setdefault((account_id, *batch_key(item)), []).append((index, item, actor))
        done: dict[int, ConsumptionRecord] = {}
        for (account_id, *_), run in runs.items():
            for part in together_parts(run, key=lambda member: member[1].event_id):
                records = self._commit_together(account_id, [(item, actor) for _, item, actor in part])
                done.update(zip((index for index, _, _ in part), records or (), strict=False))
        return done

    def _commit_together(self, account_id: str, run: list[tuple[ConsumptionInput, Actor]]) -> list[ConsumptionRecord]:
        """One burn-down over the run's consumptions, in order (each a line of its own), one
        transaction; [] when they must go one by one instead."""
        first = run[0][0]
        for attempt in range(1, _TOGETHER_ATTEMPTS + 1):
            now = now_for(self.clock, account_id, first.customer_id)
            balances = [BalanceReader(self.repo, account_id, first.customer_id, t, s, first_page=FIRST_PAGE)
                        for t, s in first.balances()]
            lines = [replace(item.line(), line_id=item.event_id) for item, _ in run]
            allocations = plan_reading(lines, balances, first.burn_currency, now)
            if any(b.moved for b in balances):
                backoff(attempt)
                continue
            drawing = _Drawing(balances, now, self.repo.balance_aggregates_of(account_id, first.customer_id,
                                                                             first.balances()))
            for item, actor in run:
                mine = [replace(a, line_id=LINE_ID) for a in allocations if a.line_id == item.event_id]
                covered = coverage(item, mine)
                if item.mode == "STRICT" and not covered.complete:
                    return []
                with acting_as(actor):
                    drawing.add(account_id, item, request_hash(item), mine, covered)
            updates, entries = drawing.writes()
            if not fits_one_transaction(len(drawing.records), len(updates), len(entries), len(balances)):
                return []
            try:
                self.repo.commit_consumptions(drawing.records, updates, entries)
            except ConcurrentUpdate:
                if any(self.repo.get_consumption(account_id, item.event_id) for item, _ in run):
                    return []  # a replay among them: each one's own path answers it
                backoff(attempt)
                continue
            telemetry.count("ConsumptionsCreated", len(drawing.records))
            return drawing.records
        return []

    def _insufficient(self, account_id: str, item: ConsumptionInput, covered, now: datetime) -> InsufficientCredits:
        found = self.repo.balance_aggregates_of(account_id, item.customer_id, item.balances())
        details: list[dict[str, Any]] = []
        for (grant_type, scope), buckets in found.items():
            metric = item.metric_id if grant_type == "CASH" else None
            details.append({"field": "quantity" if item.quantity is not None else "amount",
                            "message": f"{grant_type} {scope}: available {aggregates.available_at(buckets, now, metric)}",
                            "type": grant_type, "currency": scope if grant_type == "CASH" else None,
                            "metricId": scope if grant_type == "USAGE" else item.metric_id,
                            "available": str(aggregates.available_at(buckets, now, metric))})
        short = covered.uncovered_value if covered.uncovered_value is not None else covered.uncovered_units
        return InsufficientCredits(f"usable credits do not cover this consumption ({short} short); nothing was "
                                   "consumed", details=details)

    def _balances_after(self, record: ConsumptionRecord, now: datetime) -> list[BalanceTotals]:
        """The balance rows it drew from right after it, as stored with it (a consumption stored
        before they were: as they are at `now`, one BatchGetItem of the aggregates)."""
        if record.balances:
            return list(record.balances)
        drawn = _drawn_balances(record, record.allocations)
        if not drawn:
            return []
        found = self.repo.balance_aggregates_of(record.account_id, record.customer_id, drawn)
        return [aggregates.totals_at(_key(grant_type, scope), found[(grant_type, scope)], now, _EXPIRING)
                for grant_type, scope in drawn]

    def consume_many(self, account_id: str, bodies: list[Any]) -> list[tuple[int, Any]]:
        """`POST /credit-consumptions/batch`: each item on its own -> (status, result or error).
        The batch is one request: one instant per customer (its test clock read once)."""
        results: list[tuple[int, Any]] = []
        instants: dict[str, datetime] = {}
        for index, body in enumerate(bodies):
            try:
                request = ConsumeRequest.model_validate(body)
                if request.customerId not in instants:
                    instants[request.customerId] = now_for(self.clock, account_id, request.customerId)
                record, balances, created = self.consume(account_id, request, now=instants[request.customerId])
                results.append((201 if created else 200, (record, balances)))
            except ValidationError as exc:
                details = validation_details([{**e, "loc": ("consumptions", index, *e["loc"])} for e in exc.errors()])
                results.append((400, error_body("validation_error", "; ".join(d["message"] for d in details[:5]),
                                                details)))
            except ServiceError as exc:
                results.append((exc.status, exc.body()))
        return results

    # ---------------------------------------------------------------- reads
    def get(self, account_id: str, event_id: str) -> tuple[ConsumptionRecord, list[BalanceTotals]]:
        record = self.repo.get_consumption(account_id, event_id)
        if record is None:
            raise NotFound(f"no consumption with eventId {event_id}", field="eventId")
        return record, self._balances_after(record, now_for(self.clock, account_id, record.customer_id))

    def entitlement(self, account_id: str, customer_id: str, metric_id: str) -> tuple[Decimal, list[tuple[str, Decimal]], datetime]:
        """USAGE units of the metric usable now, and per currency the CASH credits that may pay
        for it: one Query of the customer's balance aggregates."""
        now = now_for(self.clock, account_id, customer_id)
        units = Decimal(0)
        cash: list[tuple[str, Decimal]] = []
        for key, buckets in self.repo.balance_aggregates(account_id, customer_id):
            if key.type == "USAGE" and key.metric_id == metric_id:
                units = aggregates.available_at(buckets, now)
            elif key.type == "CASH" and key.currency:
                available = aggregates.available_at(buckets, now, metric_id)
                if available > 0:
                    cash.append((key.currency, available))
        return units, sorted(cash), now


def _drawn_balances(item: ConsumptionInput | ConsumptionRecord, allocations: Any) -> list[tuple[str, str]]:
    """(type, scope) of the balances the allocations drew from, in the order they did."""
    return list(dict.fromkeys(("USAGE", item.metric_id or "") if a.type == "USAGE" else ("CASH", item.currency or "")
                              for a in allocations))


def _key(grant_type: str, scope: str) -> aggregates.BalanceKey:
    return aggregates.BalanceKey(grant_type, scope if grant_type == "CASH" else None,
                                 scope if grant_type == "USAGE" else None)


def _shown(item: ConsumptionInput, allocations: list[Allocation]) -> list[Allocation]:
    """Without a price a USAGE allocation's value is its units (the burn-down priced them at a
    scale only it uses)."""
    if item.priced:
        return allocations
    return [replace(a, value=a.units if a.units is not None else a.value) for a in allocations]


class _Drawing:
    """Consumptions drawn one after another from the grants as read: each grant's running
    balance, one CONSUMED entry per consumption and grant (with the balance after it), and each
    grant written once at the end, conditioned on the version read."""

    def __init__(self, balances: list[BalanceReader], now: datetime, aggregates_read: dict[tuple[str, str], dict]):
        self.balances = balances
        self.now = now
        self.read = {g.id: g for b in balances for g in b.read}
        # The balances' aggregates as read before the write, moved as each consumption moves
        # them: every consumption stores the rows it drew from right after it.
        self.running = {scope: dict(buckets) for scope, buckets in aggregates_read.items()}
        self.after: dict[str, GrantRecord] = {}
        self.entries: list[LedgerRecord] = []
        self.records: list[ConsumptionRecord] = []

    def add(self, account_id: str, item: ConsumptionInput, digest: str, allocations: list[Allocation],
            covered) -> ConsumptionRecord:
        for grant_id, amount in by_grant(allocations).items():
            grant = self.after.get(grant_id, self.read[grant_id])
            drawn = grant.evolve(current_balance=grant.current_balance - amount, ever_applied=True,
                                 updated_at=self.now, version=self.read[grant_id].version + 1)
            # As the transaction moves the aggregate: from what the grant contributes as stored.
            before = aggregates.contribution(grant) if grant_id in self.after else (grant.stored or {})
            scope = (drawn.type, drawn.balance_scope)
            change = aggregates.delta(before, aggregates.contribution(drawn))
            self.running[scope] = aggregates.merge([(scope, self.running.get(scope, {})), (scope, change)]).get(scope, {})
            self.after[grant_id] = drawn
            self.entries.append(entry(drawn, "CONSUMED", amount, self.now,
                                      context={**grant_context(drawn), "eventId": item.event_id}))
        record = ConsumptionRecord(
            id=new_consumption_id(), event_id=item.event_id, account_id=account_id, customer_id=item.customer_id,
            metric_id=item.metric_id, currency=item.currency, quantity=item.quantity, amount=item.amount,
            unit_price=item.unit_price, mode=item.mode, covered_units=covered.covered_units,
            covered_value=covered.covered_value, uncovered_units=covered.uncovered_units,
            uncovered_value=covered.uncovered_value, allocations=tuple(_shown(item, allocations)),
            request_hash=digest, created_at=self.now,
            balances=tuple(aggregates.totals_at(_key(t, scope), self.running.get((t, scope), {}), self.now, _EXPIRING)
                           for t, scope in _drawn_balances(item, allocations)))
        self.records.append(record)
        return record

    def writes(self) -> tuple[list[tuple[GrantRecord, int]], list[LedgerRecord]]:
        updates = [(grant, self.read[grant_id].version) for grant_id, grant in self.after.items()]
        return updates, self._mark_depleted()

    def _mark_depleted(self) -> list[LedgerRecord]:
        """Mark the last entry of each balance this write empties: the publisher emits
        account.credits.balance_depleted for it (as for an application)."""
        out = list(self.entries)
        for balance in self.balances:
            touched = [i for i, e in enumerate(out)
                       if (self.after[e.grant_id].type, self.after[e.grant_id].balance_scope)
                       == (balance.grant_type, balance.scope)]
            if touched and balance.depleted(self.now, self.after):
                last = touched[-1]
                key = {"type": balance.grant_type, "currency": balance.key[1], "metricId": balance.key[2]}
                out[last] = replace(out[last], context={**out[last].context, "balanceDepleted": key})
        return out
