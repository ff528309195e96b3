"""Applying credits to invoices: apply / preview / settle / release, exactly once.

Design (README "Applying credits"):
- The application item, keyed by invoiceId, is the idempotency record: it is created in the same
  transaction as the first grant debits (attribute_not_exists), stores a hash of the request,
  and records every allocation committed.
- A transaction holds at most 100 items, so an application touching many grants (or lines)
  commits in chunks of at most CHUNK_GRANTS grants and 100 items (one APPLIED entry per grant and
  invoice line; a grant paying more lines than fit is split between two chunks). Between chunks the application reads COMMITTING; a retried
  request (or the same request after a crash) re-reads it and continues from what is committed,
  running the same burn-down over the remaining amounts — so it finishes the same way, never twice.
- Every grant write is conditioned on the version read: a balance can never go below zero or be
  spent twice by concurrent applications; the loser re-reads and retries (bounded, with jitter).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

from credits import telemetry
from credits.domain.application_rules import (
    CHUNK_GRANTS,
    balance_key,
    burn_lines,
    by_grant,
    entry_amount,
    invoice_lines,
    line_dicts,
    request_hash,
    take_chunk,
    transition_work,
)
from credits.domain.burndown import BurnLine
from credits.domain.clock import now_for, utcnow
from credits.domain.errors import ConcurrentUpdate, Conflict, NotFound, RetryableConflict
from credits.domain.grant_rules import entry, grant_context
from credits.domain.records import ApplicationRecord, GrantRecord, LedgerRecord
from credits.models.api import ApplyRequest
from credits.services.balances import BalanceReader, invoice_balances, plan_reading
from credits.services.retry import backoff

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
    def preview(self, account_id: str, request: ApplyRequest) -> ApplicationRecord:
        lines = invoice_lines(request)
        now = now_for(self.clock, account_id, request.customerId)  # a test clock's time, if on one
        currency = request.currency.upper()
        balances = invoice_balances(self.repo, account_id, request.customerId, lines, currency)
        allocations = plan_reading(lines, balances, currency, now)
        draft = ApplicationRecord(invoice_id=request.invoiceId, account_id=account_id, customer_id=request.customerId,
                                  currency=currency, status="PENDING", request_hash="", settle_requested=False,
                                  lines=line_dicts(lines), allocations=tuple(allocations), created_at=now, updated_at=now)
        return replace(draft, status="PREVIEW")

    # ---------------------------------------------------------------- apply
    def apply(self, account_id: str, request: ApplyRequest) -> tuple[ApplicationRecord, bool]:
        """Returns the application and whether this call created it (201) or replayed it (200)."""
        lines = invoice_lines(request)
        digest = request_hash(request, lines)
        legacy = request_hash(request)
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
                if existing.request_hash not in (digest, legacy):
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
                    raise RetryableConflict(_BUSY) from None
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
        return existing, created

    def _commit_next_chunk(self, account_id: str, request: ApplyRequest, lines: list[BurnLine], digest: str,
                           existing: ApplicationRecord | None, token: str, balances: list[BalanceReader] | None,
                           ) -> tuple[bool, ApplicationRecord, list[BalanceReader]]:
        now = now_for(self.clock, account_id, request.customerId)
        currency = request.currency.upper()
        state = burn_lines(existing) if existing else lines
        if balances is None:
            balances = invoice_balances(self.repo, account_id, request.customerId, state, currency)
        allocations = plan_reading(state, balances, currency, now)
        if any(b.moved for b in balances):
            raise ConcurrentUpdate("a grant moved in the burn-down order while it was read")
        chunk_allocations = take_chunk(allocations, self.chunk_grants, per_grant=1, per_allocation=1)
        final = len(chunk_allocations) == len(allocations)
        taken = by_grant(chunk_allocations)
        by_id = {g.id: g for b in balances for g in b.read}
        updates: list[tuple[GrantRecord, int]] = []
        entries: list[LedgerRecord] = []
        after: dict[str, GrantRecord] = {}
        for grant_id in dict.fromkeys(a.grant_id for a in chunk_allocations):
            grant, amount = by_id[grant_id], taken[grant_id]
            updated = grant.evolve(current_balance=grant.current_balance - amount,
                                   pending_amount=grant.pending_amount + amount, ever_applied=True,
                                   updated_at=now, version=grant.version + 1)
            updates.append((updated, grant.version))
            after[grant_id] = updated
            # One APPLIED entry per grant and invoice line, each with the balance after it.
            balance = grant.current_balance
            for a in (a for a in chunk_allocations if a.grant_id == grant_id):
                balance -= entry_amount(a)
                entries.append(replace(entry(updated, "APPLIED", entry_amount(a), now, invoice_id=request.invoiceId,
                                             line_id=a.line_id, context=grant_context(updated)),
                                       balance_after=balance))
        if final and entries:
            touched = {balance_key(u) for u, _ in updates}
            for key in (b.key for b in balances if b.key in touched and b.depleted(now, after)):
                # Mark the last entry of that balance: the publisher emits balance_depleted for it.
                grant_ids = {u.id for u, _ in updates if balance_key(u) == key}
                last = max(i for i, e in enumerate(entries) if e.grant_id in grant_ids)
                e = entries[last]
                entries[last] = replace(e, context={**e.context, "balanceDepleted":
                                                    {"type": key[0], "currency": key[1], "metricId": key[2]}})
        previous = existing.allocations if existing else ()
        record = ApplicationRecord(
            invoice_id=request.invoiceId, account_id=account_id, customer_id=request.customerId, currency=currency,
            status="PENDING" if final else "COMMITTING", request_hash=digest, settle_requested=request.settle,
            lines=existing.lines if existing else line_dicts(lines), allocations=tuple(previous) + tuple(chunk_allocations),
            created_at=existing.created_at if existing else now, updated_at=now,
            version=(existing.version + 1) if existing else 1,
            created_by=existing.created_by if existing else token,
        )
        self.repo.commit_application(record, existing.version if existing else None, updates, entries)
        for balance in balances:
            balance.written(after)
        return final, record, balances

    # ---------------------------------------------------------------- recovery
    def finish(self, account_id: str, invoice_id: str) -> str | None:
        """Finish an application whose caller stopped between chunks (a crash, a timeout): roll
        it forward exactly as a repeat of the same request would — the same burn-down over what
        is left — then the settle it asked for, or the settle / release that was under way.
        Returns the status it reached (None when there is no such application)."""
        app = self.repo.get_application(account_id, invoice_id)
        conflicts = 0
        while app is not None and app.status == "COMMITTING":
            # The stored request: what _commit_next_chunk reads of it once the application exists.
            request = ApplyRequest.model_construct(invoiceId=app.invoice_id, customerId=app.customer_id,
                                                   currency=app.currency, lines=[], settle=app.settle_requested)
            try:
                _, app, _ = self._commit_next_chunk(account_id, request, [], app.request_hash, app,
                                                    app.created_by or "", None)
            except ConcurrentUpdate:
                conflicts += 1
                if conflicts >= self.attempts:
                    raise RetryableConflict(_BUSY) from None
                backoff(conflicts)
                app = self.repo.get_application(account_id, invoice_id)
        if app is None:
            return None
        target = _IN_PROGRESS.get(app.status) or ("SETTLED" if app.settle_requested and app.status == "PENDING" else None)
        if target is not None:
            return self._transition(account_id, invoice_id, target).status
        return app.status

    # ---------------------------------------------------------------- settle / release
    def get(self, account_id: str, invoice_id: str) -> ApplicationRecord:
        return self._get(account_id, invoice_id)

    def _get(self, account_id: str, invoice_id: str) -> ApplicationRecord:
        app = self.repo.get_application(account_id, invoice_id)
        if app is None:
            raise NotFound(f"no credit application for invoice {invoice_id}", field="invoiceId")
        return app

    def settle(self, account_id: str, invoice_id: str) -> ApplicationRecord:
        return self._transition(account_id, invoice_id, "SETTLED")

    def release(self, account_id: str, invoice_id: str) -> ApplicationRecord:
        return self._transition(account_id, invoice_id, "RELEASED")

    def _transition(self, account_id: str, invoice_id: str, target: str) -> ApplicationRecord:
        conflicts = 0
        while True:
            app = self._get(account_id, invoice_id)
            if app.status == target:
                return app
            if app.status == "COMMITTING":
                raise RetryableConflict("the application is still being committed; retry in a moment (the service "
                                        "finishes it by itself, or repeat POST /credit-applications)")
            under_way = _IN_PROGRESS.get(app.status)
            if under_way is not None and under_way != target:
                raise RetryableConflict(f"the application is being {under_way.lower()}; retry in a moment")
            if app.status == "RELEASED" or (target == "SETTLED" and app.status == "SETTLED"):
                raise Conflict(f"a {app.status.lower()} application cannot be {target.lower()}")
            try:
                # Then re-read: either done (status == target) or another chunk to go.
                self._commit_transition_chunk(app, target)
            except ConcurrentUpdate:
                conflicts += 1
                if conflicts >= self.attempts:
                    raise RetryableConflict(_BUSY) from None
                backoff(conflicts)

    def _commit_transition_chunk(self, app: ApplicationRecord, target: str) -> None:
        now = now_for(self.clock, app.account_id, app.customer_id)
        # Which step is under way: SETTLING/RELEASING remember where a chunked transition got to.
        from_status = app.transition_from or app.status
        work = transition_work(app)
        # Settle: one SETTLED entry per grant; release: one RELEASED entry per APPLIED one (grant
        # and line), and one write-off entry per grant that meanwhile expired or was voided.
        if target == "SETTLED":
            chunk = take_chunk(work, self.chunk_grants, per_grant=2, per_allocation=0)
        else:
            chunk = take_chunk(work, self.chunk_grants, per_grant=2, per_allocation=1)
        final = len(chunk) == len(work)
        amounts = by_grant(chunk)
        grants = {g.id: g for g in self.repo.customer_grants(app.account_id, app.customer_id)}
        updates: list[tuple[GrantRecord, int]] = []
        entries: list[LedgerRecord] = []
        for grant_id, amount in amounts.items():
            grant = grants.get(grant_id)
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
                balance = grant.current_balance
                for a in (a for a in chunk if a.grant_id == grant_id):
                    balance += entry_amount(a)
                    entries.append(replace(entry(released, "RELEASED", entry_amount(a), now, invoice_id=app.invoice_id,
                                                 line_id=a.line_id, context=grant_context(released)),
                                           balance_after=balance))
                updated = released
                if status in ("VOIDED", "EXPIRED"):
                    # The grant can't take the credit back: it goes straight on to VOIDED/EXPIRED.
                    updated = released.evolve(current_balance=grant.current_balance)
                    entries.append(entry(updated, status, amount, now, invoice_id=app.invoice_id,
                                         reason="released after the grant was " + status.lower(),
                                         context=grant_context(updated)))
            updates.append((updated, grant.version))
        record = replace(app, status=target if final else ("SETTLING" if target == "SETTLED" else "RELEASING"),
                         transition_from=None if final else from_status,
                         done_grant_ids=app.done_grant_ids if not final else (),
                         done_allocations=0 if final else app.done_allocations + len(chunk),
                         updated_at=now, version=app.version + 1)
        self.repo.commit_application(record, app.version, updates, entries)


_IN_PROGRESS = {"SETTLING": "SETTLED", "RELEASING": "RELEASED"}
_BUSY = "credits are being changed by other requests; retry"
