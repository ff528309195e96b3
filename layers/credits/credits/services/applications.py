"""Applying credits to invoices: apply / preview / settle / release, exactly once.

Design (README "Applying credits"):
- The application item, keyed by invoiceId, is the idempotency record: it is created in the same
  transaction as the first grant debits (attribute_not_exists), stores a hash of the request,
  and records every allocation committed.
- A transaction holds at most 100 items, so an application touching many grants commits in
  chunks of CHUNK_GRANTS grants. Between chunks the application reads COMMITTING; a retried
  request (or the same request after a crash) re-reads it and continues from what is committed,
  running the same burn-down over the remaining amounts — so it finishes the same way, never twice.
- Every grant write is conditioned on the version read: a balance can never go below zero or be
  spent twice by concurrent applications; the loser re-reads and retries (bounded, with jitter).
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from credits import telemetry
from credits.domain import money
from credits.domain.burndown import Allocation as Alloc
from credits.domain.burndown import (BurnGrant, BurnLine, apply_allocations, burndown, grant_sort_key, line_amount,
                              summarize)
from credits.domain.clock import to_iso, utcnow
from credits.domain.errors import Conflict, ConcurrentUpdate, InvalidRequest, NotFound
from credits.services.grants import backoff, entry, grant_context
from credits.models.api import Allocation, Application, ApplicationLine, ApplyRequest
from credits.domain.records import ZERO, ApplicationRecord, GrantRecord, LedgerRecord

# 1 application item + up to 3 items per grant (grant, entry, and on release a write-off entry) <= 100.
CHUNK_GRANTS = 32


# ====================================================================== pure parts


def request_hash(request: ApplyRequest) -> str:
    canonical = json.dumps(request.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def invoice_lines(request: ApplyRequest) -> list[BurnLine]:
    """Validate the lines against the currency rules; a usage line's amount is quantity x price."""
    currency = request.currency.upper()
    if not money.is_supported_currency(currency):
        raise InvalidRequest(f"currency {request.currency!r} is not a supported ISO 4217 currency", field="currency")
    seen: set[str] = set()
    lines = []
    for index, line in enumerate(request.lines):
        where = f"lines[{index}]"
        if line.lineId in seen:
            raise InvalidRequest(f"{where}.lineId {line.lineId!r} is used twice", field=f"{where}.lineId")
        seen.add(line.lineId)
        try:
            if line.quantity is not None or line.unitPrice is not None:
                if line.amount is not None:
                    raise InvalidRequest(f"{where} has both amount and quantity/unitPrice", field=f"{where}.amount")
                if line.quantity is None or line.unitPrice is None:
                    missing = "quantity" if line.quantity is None else "unitPrice"
                    raise InvalidRequest(f"{where}.{missing} is required with "
                                         f"{'unitPrice' if missing == 'quantity' else 'quantity'}", field=f"{where}.{missing}")
                if line.metricId is None:
                    raise InvalidRequest(f"{where}.metricId is required on a usage line", field=f"{where}.metricId")
                quantity = money.parse_units(line.quantity, field=f"{where}.quantity")
                price = money.parse_price(line.unitPrice, field=f"{where}.unitPrice")
                amount = line_amount(quantity, price, currency)
                if amount > money.MAX_AMOUNT:
                    raise InvalidRequest(f"{where}: quantity x unitPrice must be at most "
                                         f"{money.format_units(money.MAX_AMOUNT)}", field=f"{where}.quantity")
                lines.append(BurnLine(line.lineId, line.metricId, amount, quantity, price))
            else:
                if line.amount is None:
                    raise InvalidRequest(f"{where} needs amount, or quantity and unitPrice", field=f"{where}.amount")
                amount = money.parse_money(line.amount, currency, field=f"{where}.amount")
                lines.append(BurnLine(line.lineId, line.metricId, amount))
        except ValueError as exc:
            raise InvalidRequest(str(exc), field=str(exc).split(" ", 1)[0]) from None
    if sum((line.amount for line in lines), ZERO) > money.MAX_AMOUNT:
        raise InvalidRequest(f"the lines add up to more than {money.format_units(money.MAX_AMOUNT)}", field="lines")
    return lines


def burn_grant(grant: GrantRecord) -> BurnGrant:
    return BurnGrant(id=grant.id, type=grant.type, currency=grant.currency, metric_id=grant.metric_id,
                     balance=grant.current_balance, priority=grant.priority, expires_at=grant.expires_at,
                     category=grant.category, effective_at=grant.effective_at, created_at=grant.created_at,
                     applicable_metric_ids=grant.applicable_metric_ids)


def plan(lines: list[BurnLine], grants: list[GrantRecord], currency: str, now: datetime) -> list[Alloc]:
    usable = [burn_grant(g) for g in grants if g.usable_at(now)]
    return burndown(lines, usable, currency)


def by_grant(allocations: list[Alloc]) -> dict[str, Decimal]:
    """Amount taken from each grant, in its own unit (money for CASH, units for USAGE)."""
    totals: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for a in allocations:
        totals[a.grant_id] += a.units if a.units is not None else a.value
    return dict(totals)


def balance_key(grant: GrantRecord) -> tuple[str, str | None, str | None]:
    return (grant.type, grant.currency if grant.type == "CASH" else None, grant.metric_id if grant.type == "USAGE" else None)


# Grants read per page of one balance in burn-down order: most invoices need a few.
BURN_PAGE = 16


class BalanceReader:
    """One balance of a customer (a CASH currency or a USAGE metric): its spendable grants in
    burn-down order, read a page at a time, only as far as the caller needs."""

    def __init__(self, repo, account_id: str, customer_id: str, grant_type: str, scope: str):
        self.grant_type, self.scope = grant_type, scope
        self.key = (grant_type, scope if grant_type == "CASH" else None, scope if grant_type == "USAGE" else None)
        self._source = repo.burn_candidates(account_id, customer_id, grant_type, scope)
        self.read: list[GrantRecord] = []
        self.exhausted = False
        # A grant whose place in the order changed (a PATCH of priority or expiry) between two
        # pages can come again: what was read is then not one moment's order.
        self.moved = False
        self._page = BURN_PAGE

    def read_more(self) -> None:
        """The next page; pages double (as the store's do), so n grants take O(log n) reads."""
        seen = {g.id for g in self.read}
        for _ in range(self._page):
            grant = next(self._source, None)
            if grant is None:
                self.exhausted = True
                return
            if grant.id in seen:
                self.moved = True
                continue
            self.read.append(grant)
        self._page *= 2

    def written(self, grants: dict[str, GrantRecord]) -> None:
        """Take this call's own committed writes into what was read (a later chunk plans on them;
        a grant changed by anyone else fails that chunk's version condition and is re-read)."""
        self.read = [grants.get(g.id, g) for g in self.read]

    def depleted(self, now: datetime, written: dict[str, GrantRecord]) -> bool:
        """Nothing usable is left in this balance once `written` (grant id -> new state) is."""
        seen = 0
        while True:
            if any(written.get(g.id, g).usable_at(now) for g in self.read[seen:]):
                return False
            seen = len(self.read)
            if self.exhausted:
                return True
            self.read_more()


def spendable_in_burn_order(grants: list[GrantRecord], grant_type: str, scope: str) -> list[GrantRecord]:
    """What the store's burn-down index (LSI1) holds for one balance, in its order: for adapters
    that keep grants in memory."""
    spendable = [g for g in grants if g.type == grant_type and g.balance_scope == scope
                 and g.voided_at is None and g.expired_at is None and g.current_balance > 0]
    return sorted(spendable, key=lambda g: grant_sort_key(burn_grant(g)))


def reader_for(repo, grant: GrantRecord) -> BalanceReader:
    return BalanceReader(repo, grant.account_id, grant.customer_id, grant.type, grant.balance_scope)


def plan_reading(lines: list[BurnLine], balances: list[BalanceReader], currency: str, now: datetime) -> list[Alloc]:
    """The burn-down over as few grants as it needs. Each balance is read in burn-down order, so
    what is read is a prefix of it and the burn-down over the prefixes equals the burn-down over
    everything, as long as no balance could still give more: a USAGE balance while every grant
    read is used up and a line of its metric is still open after the USAGE step; the CASH
    balance while any line is still open."""
    for balance in balances:
        if not balance.read and not balance.exhausted:
            balance.read_more()
    while True:
        allocations = plan(lines, [g for b in balances for g in b.read], currency, now)
        hungry = [b for b in balances if not b.exhausted and _could_give_more(b, lines, allocations, now)]
        if not hungry:
            return allocations
        for balance in hungry:
            balance.read_more()


def _could_give_more(balance: BalanceReader, lines: list[BurnLine], allocations: list[Alloc], now: datetime) -> bool:
    if balance.grant_type == "USAGE":
        taken = by_grant(allocations)
        if any(g.usable_at(now) and taken.get(g.id, ZERO) < g.current_balance for g in balance.read):
            return False  # a grant has units left: every line of the metric was done before it
        after_usage = apply_allocations(lines, [a for a in allocations if a.type == "USAGE"])
        return any(l.is_usage and l.metric_id == balance.scope and l.covered_units < l.quantity
                   and l.credited < l.amount for l in after_usage)
    return any(l.credited < l.amount for l in apply_allocations(lines, allocations))


def invoice_balances(repo, account_id: str, customer_id: str, lines: list[BurnLine], currency: str) -> list[BalanceReader]:
    """The balances an invoice can draw on: one per metric of its usage lines, and its currency."""
    metrics = dict.fromkeys(l.metric_id for l in lines if l.is_usage and l.metric_id is not None)
    return [*(BalanceReader(repo, account_id, customer_id, "USAGE", m) for m in metrics),
            BalanceReader(repo, account_id, customer_id, "CASH", currency)]


def application_view(app: ApplicationRecord, status: str | None = None) -> Application:
    lines = [BurnLine(l["lineId"], l.get("metricId"), Decimal(l["amount"])) for l in app.lines]
    summary = summarize(lines, app.allocations, app.currency)
    cur = app.currency
    return Application(
        invoiceId=app.invoice_id, customerId=app.customer_id, currency=cur,
        status=status or _visible_status(app),
        subtotal=money.format_money(summary.subtotal, cur), creditsApplied=money.format_money(summary.credits_applied, cur),
        totalDue=money.format_money(summary.total_due, cur),
        lines=[ApplicationLine(lineId=r.line_id, amount=money.format_money(r.amount, cur),
                               creditsApplied=money.format_money(r.credits_applied, cur),
                               amountDue=money.format_money(r.amount_due, cur)) for r in summary.lines],
        allocations=[Allocation(grantId=a.grant_id, type=a.type, lineId=a.line_id,
                                units=money.format_units(a.units) if a.units is not None else None,
                                value=money.format_money(a.value, cur)) for a in app.allocations],
        createdAt=to_iso(app.created_at), updatedAt=to_iso(app.updated_at),
    )


def _visible_status(app: ApplicationRecord) -> str:
    """Intermediate states of a chunked write read as the state they started from."""
    if app.status == "COMMITTING" or app.status == "SETTLING":
        return "PENDING"
    if app.status == "RELEASING":
        return app.transition_from or "PENDING"
    return app.status


def _line_dicts(lines: list[BurnLine]) -> list[dict[str, Any]]:
    return [{"lineId": l.line_id, "metricId": l.metric_id, "amount": str(l.amount),
             "quantity": str(l.quantity) if l.quantity is not None else None,
             "unitPrice": str(l.unit_price) if l.unit_price is not None else None} for l in lines]


def _burn_lines(app: ApplicationRecord) -> list[BurnLine]:
    lines = [BurnLine(l["lineId"], l.get("metricId"), Decimal(l["amount"]),
                      Decimal(l["quantity"]) if l.get("quantity") is not None else None,
                      Decimal(l["unitPrice"]) if l.get("unitPrice") is not None else None) for l in app.lines]
    return apply_allocations(lines, app.allocations)


# ====================================================================== use cases


class ApplicationService:
    def __init__(self, repo, *, attempts: int = 30, clock: Callable[[], datetime] = utcnow,
                 chunk_grants: int = CHUNK_GRANTS, after_chunk: Callable[[int], None] | None = None):
        self.repo = repo
        self.attempts = attempts
        self.clock = clock
        self.chunk_grants = chunk_grants
        # Test hook: called after each committed chunk (crash injection).
        self.after_chunk = after_chunk

    # ---------------------------------------------------------------- preview
    def preview(self, account_id: str, request: ApplyRequest) -> Application:
        lines = invoice_lines(request)
        now = self.clock()
        currency = request.currency.upper()
        balances = invoice_balances(self.repo, account_id, request.customerId, lines, currency)
        allocations = plan_reading(lines, balances, currency, now)
        draft = ApplicationRecord(invoice_id=request.invoiceId, account_id=account_id, customer_id=request.customerId,
                                  currency=currency, status="PENDING", request_hash="", settle_requested=False,
                                  lines=_line_dicts(lines), allocations=tuple(allocations), created_at=now, updated_at=now)
        return application_view(draft, status="PREVIEW")

    # ---------------------------------------------------------------- apply
    def apply(self, account_id: str, request: ApplyRequest) -> tuple[Application, bool]:
        """Returns the application and whether this call created it (201) or replayed it (200)."""
        import uuid

        lines = invoice_lines(request)
        digest = request_hash(request)
        # Marks the record this call created, so a commit whose reply was lost (and is found
        # on the re-read) still counts as created here.
        token = uuid.uuid4().hex
        created = False
        conflicts = 0
        chunk_index = 0
        existing: ApplicationRecord | None = None
        # What this call has read of the customer's balances; kept across its own chunks.
        balances: list[BalanceReader] | None = None
        # First attempt: assume a new invoice without reading (the create condition catches a
        # replay); after a lost condition, re-read; after a committed chunk, go on from it.
        read_first = False
        while True:
            if read_first:
                existing = self.repo.get_application(account_id, request.invoiceId)
            if existing is not None:
                if existing.request_hash != digest:
                    raise Conflict(f"invoice {request.invoiceId} already has an application with a different body",
                                   field="invoiceId")
                created = created or existing.created_by == token
                if existing.status != "COMMITTING":
                    break
            starting = existing is None
            try:
                done, existing, balances = self._commit_next_chunk(account_id, request, lines, digest, existing,
                                                                   token, balances)
            except ConcurrentUpdate:
                balances = None
                conflicts += 1
                if conflicts >= self.attempts:
                    raise Conflict("credits are being changed by other requests; retry") from None
                if conflicts > 1:
                    backoff(conflicts)
                read_first = True
                continue
            read_first = False
            created = created or starting
            chunk_index += 1
            if self.after_chunk is not None:
                self.after_chunk(chunk_index)
            if done:
                break
        if created:
            telemetry.count("ApplicationsCreated")
        if request.settle:
            return self.settle(account_id, request.invoiceId), created
        assert existing is not None
        return application_view(existing), created

    def _commit_next_chunk(self, account_id: str, request: ApplyRequest, lines: list[BurnLine], digest: str,
                           existing: ApplicationRecord | None, token: str, balances: list[BalanceReader] | None,
                           ) -> tuple[bool, ApplicationRecord, list[BalanceReader]]:
        now = self.clock()
        currency = request.currency.upper()
        state = _burn_lines(existing) if existing else lines
        if balances is None:
            balances = invoice_balances(self.repo, account_id, request.customerId, state, currency)
        allocations = plan_reading(state, balances, currency, now)
        if any(b.moved for b in balances):
            raise ConcurrentUpdate("a grant moved in the burn-down order while it was read")
        order = list(dict.fromkeys(a.grant_id for a in allocations))
        chunk = set(order[: self.chunk_grants])
        final = len(order) <= self.chunk_grants
        chunk_allocations = [a for a in allocations if a.grant_id in chunk]
        taken = by_grant(chunk_allocations)
        by_id = {g.id: g for b in balances for g in b.read}
        updates: list[tuple[GrantRecord, int]] = []
        entries: list[LedgerRecord] = []
        after: dict[str, GrantRecord] = {}
        for grant_id in order[: self.chunk_grants]:
            grant, amount = by_id[grant_id], taken[grant_id]
            updated = grant.evolve(current_balance=grant.current_balance - amount,
                                   pending_amount=grant.pending_amount + amount, ever_applied=True,
                                   updated_at=now, version=grant.version + 1)
            lines_of = {a.line_id for a in chunk_allocations if a.grant_id == grant_id}
            updates.append((updated, grant.version))
            after[grant_id] = updated
            entries.append(entry(updated, "APPLIED", amount, now, invoice_id=request.invoiceId,
                                 line_id=next(iter(lines_of)) if len(lines_of) == 1 else None,
                                 context=grant_context(updated)))
        if final and entries:
            touched = {balance_key(u) for u, _ in updates}
            for key in (b.key for b in balances if b.key in touched and b.depleted(now, after)):
                # Mark the last entry of that balance: the publisher emits balance_depleted for it.
                last = max((i for i, (u, _) in enumerate(updates) if balance_key(u) == key))
                e = entries[last]
                entries[last] = replace(e, context={**e.context, "balanceDepleted":
                                                    {"type": key[0], "currency": key[1], "metricId": key[2]}})
        previous = existing.allocations if existing else ()
        record = ApplicationRecord(
            invoice_id=request.invoiceId, account_id=account_id, customer_id=request.customerId, currency=currency,
            status="PENDING" if final else "COMMITTING", request_hash=digest, settle_requested=request.settle,
            lines=existing.lines if existing else _line_dicts(lines), allocations=tuple(previous) + tuple(chunk_allocations),
            created_at=existing.created_at if existing else now, updated_at=now,
            version=(existing.version + 1) if existing else 1,
            created_by=existing.created_by if existing else token,
        )
        self.repo.commit_application(record, existing.version if existing else None, updates, entries)
        for balance in balances:
            balance.written(after)
        return final, record, balances

    # ---------------------------------------------------------------- settle / release
    def get(self, account_id: str, invoice_id: str) -> Application:
        return application_view(self._get(account_id, invoice_id))

    def _get(self, account_id: str, invoice_id: str) -> ApplicationRecord:
        app = self.repo.get_application(account_id, invoice_id)
        if app is None:
            raise NotFound(f"no credit application for invoice {invoice_id}", field="invoiceId")
        return app

    def settle(self, account_id: str, invoice_id: str) -> Application:
        return self._transition(account_id, invoice_id, "SETTLED")

    def release(self, account_id: str, invoice_id: str) -> Application:
        return self._transition(account_id, invoice_id, "RELEASED")

    def _transition(self, account_id: str, invoice_id: str, target: str) -> Application:
        conflicts = 0
        while True:
            app = self._get(account_id, invoice_id)
            if app.status == target:
                return application_view(app)
            if app.status == "COMMITTING":
                raise Conflict("the application is still being committed; repeat POST /credit-applications first")
            under_way = _IN_PROGRESS.get(app.status)
            if under_way is not None and under_way != target:
                raise Conflict(f"the application is being {under_way.lower()}; repeat that request first")
            if app.status == "RELEASED" or (target == "SETTLED" and app.status == "SETTLED"):
                raise Conflict(f"a {app.status.lower()} application cannot be {target.lower()}")
            try:
                # Then re-read: either done (status == target) or another chunk to go.
                self._commit_transition_chunk(app, target)
            except ConcurrentUpdate:
                conflicts += 1
                if conflicts >= self.attempts:
                    raise Conflict("credits are being changed by other requests; retry") from None
                backoff(conflicts)

    def _commit_transition_chunk(self, app: ApplicationRecord, target: str) -> None:
        now = self.clock()
        amounts = by_grant(list(app.allocations))
        # Which step is under way: SETTLING/RELEASING remember where a chunked transition got to.
        from_status = app.transition_from or app.status
        pending_ids = [g for g in sorted(amounts) if g not in set(app.done_grant_ids)]
        chunk = pending_ids[: self.chunk_grants]
        final = len(pending_ids) <= self.chunk_grants
        grants = {g.id: g for g in self.repo.customer_grants(app.account_id, app.customer_id)}
        updates: list[tuple[GrantRecord, int]] = []
        entries: list[LedgerRecord] = []
        for grant_id in chunk:
            grant, amount = grants.get(grant_id), amounts[grant_id]
            if grant is None:  # deleted grants can't have applications (delete is refused), but stay safe
                continue
            if target == "SETTLED":
                updated = grant.evolve(pending_amount=grant.pending_amount - amount, updated_at=now, version=grant.version + 1)
                entries.append(entry(updated, "SETTLED", amount, now, invoice_id=app.invoice_id, context=grant_context(updated)))
            else:
                pending = grant.pending_amount - amount if from_status == "PENDING" else grant.pending_amount
                status = grant.status_at(now)
                released = grant.evolve(current_balance=grant.current_balance + amount, pending_amount=pending,
                                        updated_at=now, version=grant.version + 1)
                entries.append(entry(released, "RELEASED", amount, now, invoice_id=app.invoice_id,
                                     context=grant_context(released)))
                updated = released
                if status in ("VOIDED", "EXPIRED"):
                    # The grant can't take the credit back: it goes straight on to VOIDED/EXPIRED.
                    updated = released.evolve(current_balance=grant.current_balance)
                    entries.append(entry(updated, status, amount, now, invoice_id=app.invoice_id,
                                         reason="released after the grant was " + status.lower(),
                                         context=grant_context(updated)))
            updates.append((updated, grant.version))
        done = () if final else tuple(app.done_grant_ids) + tuple(chunk)
        record = replace(app, status=target if final else ("SETTLING" if target == "SETTLED" else "RELEASING"),
                         transition_from=None if final else from_status, done_grant_ids=done, updated_at=now,
                         version=app.version + 1)
        self.repo.commit_application(record, app.version, updates, entries)


_IN_PROGRESS = {"SETTLING": "SETTLED", "RELEASING": "RELEASED"}
