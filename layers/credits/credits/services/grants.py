"""The grant use cases (create, get, patch, void, expire, delete): each reads through the
Repository port, decides with domain/grant_rules.py and writes one transaction per change."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

from credits import telemetry
from credits.domain.actors import current_actor
from credits.domain.clock import now_of, reading, utcnow
from credits.domain.errors import Conflict, NotFound
from credits.domain.grant_rules import (
    build_grant,
    entry,
    expire_grant,
    grant_context,
    granted_entry,
    patch_grant,
    void_grant,
)
from credits.domain.paid_rules import adjust, check_refundable, invoice_notice, record_payment, with_refund
from credits.domain.records import ZERO, GrantRecord, LedgerRecord
from credits.domain.tax_rate_rules import may_name_tax_rate, snapshot
from credits.models.api import CreateGrantRequest, UpdateGrantRequest
from credits.services.balances import reader_for
from credits.services.ports import Repository, TaxRateStore
from credits.services.retry import with_retries


class GrantService:
    def __init__(self, repo: Repository, *, attempts: int = 30, clock: Callable[[], datetime] | None = None,
                 tax_rates: TaxRateStore | None = None):
        self.repo = repo
        self.tax_rates = tax_rates  # a grant whose taxRateId names one of them keeps its snapshot
        self.attempts = attempts
        self.clock = clock or utcnow

    def create(self, account_id: str, body: CreateGrantRequest, *, request_key: str | None = None) -> GrantRecord:
        """`request_key` (the caller's Idempotency-Key with its route, or a command's id) makes the
        create happen once: a repeat returns the grant the first one made, even when the first
        answer, or the Idempotency-Key record, was lost after the grant committed."""
        now, test_clock_id = reading(self.clock, account_id, body.customerId)  # a test clock's time
        grant = build_grant(account_id, body, now).evolve(test_clock_id=test_clock_id)
        if self.tax_rates is not None and may_name_tax_rate(grant.tax_rate_id):
            grant = grant.evolve(tax_rate=snapshot(self.tax_rates.get_tax_rate(account_id, grant.tax_rate_id)))
        # A grant that requires payment has no GRANTED entry until it is paid; a notice requests its invoice.
        entry = None if grant.awaiting_payment else granted_entry(grant, now)
        notices = [invoice_notice(grant, now)] if grant.awaiting_payment else []
        attempted = False

        def attempt() -> GrantRecord:
            nonlocal attempted
            # Nothing is written unless all is: a transaction that met another on a shared counter
            # item, or on the key's claim, is looked at again (a claim means it was made already).
            if attempted and request_key is not None:
                made = self.repo.claimed_grant(account_id, request_key)
                if made is not None:
                    return made
            attempted = True
            self.repo.create_grant(grant, entry, request_key=request_key, notices=notices)
            return grant

        made = with_retries(attempt, self.attempts, busy="too many grants are being created in this account at once; retry")
        if made is not grant:
            return made
        telemetry.count("GrantsCreated")
        telemetry.amount(f"Granted{grant.type.title()}", grant.original_amount,
                         grant.currency if grant.type == "CASH" else None)
        return grant

    def now_of(self, grant: GrantRecord) -> datetime:
        """Now for this grant's customer (its test clock's time, if it is on one)."""
        return now_of(self.clock, grant)

    def get(self, account_id: str, grant_id: str) -> GrantRecord:
        grant = self.repo.get_grant(account_id, grant_id)
        if grant is None:
            raise NotFound(f"credit grant {grant_id} not found", field="grantId")
        return grant

    def _change(self, account_id: str, grant_id: str,
                decide: Callable[[GrantRecord, datetime], tuple[GrantRecord, list[LedgerRecord]]],
                written: list[LedgerRecord] | None = None) -> GrantRecord:
        """Read, decide, write conditioned on the version read (retried on a lost race). The
        decision may also return notices (a third item); `written` receives the entries written."""
        def attempt() -> GrantRecord:
            grant = self.get(account_id, grant_id)
            now = self.now_of(grant)
            updated, entries, *rest = decide(grant, now)
            notices = rest[0] if rest else []
            if updated is not grant:
                if entries and entries[-1].type in ("VOIDED", "EXPIRED", "ADJUSTED_DOWN") and grant.usable_at(now):
                    entries = self._mark_depletion(grant, updated, entries, now)
                self.repo.save_grant(updated, grant.version, entries, notices=notices)
            if written is not None:
                written[:] = entries
            return updated

        return with_retries(attempt, self.attempts)

    def _mark_depletion(self, before: GrantRecord, after: GrantRecord, entries: list[LedgerRecord],
                        now: datetime) -> list[LedgerRecord]:
        """When this write takes the customer's available balance for the grant's currency
        (CASH) or metric (USAGE) to zero, say so on its entry: the publisher emits
        account.credits.balance_depleted for it."""
        balance = reader_for(self.repo, after)
        if not balance.depleted(now, {after.id: after}):
            return entries
        key = balance.key
        last = entries[-1]
        marker = {"type": key[0], "currency": key[1], "metricId": key[2]}
        return [*entries[:-1], replace(last, context={**last.context, "balanceDepleted": marker})]

    def patch(self, account_id: str, grant_id: str, body: UpdateGrantRequest) -> GrantRecord:
        def decide(grant: GrantRecord, now: datetime) -> tuple[GrantRecord, list[LedgerRecord]]:
            patched, entries = patch_grant(grant, body, now)
            # Who changed it, for what no ledger entry records (the audit trail reads it).
            return (patched if patched is grant else patched.evolve(updated_by=current_actor())), entries

        return self._change(account_id, grant_id, decide)

    def void(self, account_id: str, grant_id: str, reason: str, *, refund: bool = False) -> GrantRecord:
        """With `refund`, the VOIDED entry also asks the billing system for a credit note
        (account.credits.refund_requested with what the removed balance cost)."""
        def decide(grant: GrantRecord, now: datetime):
            if refund:
                check_refundable(grant)
            updated, entries = void_grant(grant, reason, now)
            return updated, with_refund(grant, entries) if refund else entries

        grant = self._change(account_id, grant_id, decide)
        telemetry.count("GrantsVoided")
        return grant

    def adjust(self, account_id: str, grant_id: str, direction: str, amount: str, reason: str) -> LedgerRecord:
        """An ADJUSTED_UP / ADJUSTED_DOWN entry and the grant's balance, in one transaction."""
        written: list[LedgerRecord] = []
        try:
            self._change(account_id, grant_id, lambda g, now: adjust(g, direction, amount, reason, now), written)
        except NotFound:
            if self.repo.grant_deleted(account_id, grant_id):
                raise Conflict("a deleted grant cannot be adjusted", field="grantId") from None
            raise
        telemetry.count("GrantsAdjusted")
        return written[0]

    def record_payment(self, account_id: str, grant_id: str, status: str, invoice_id: str | None = None) -> GrantRecord:
        """PAID or FAILED for a grant that requires payment: exactly one of them ever wins (both
        write conditioned on the version they read; the loser re-reads and answers 409)."""
        return self._change(account_id, grant_id, lambda g, now: record_payment(g, status, invoice_id, now))

    def expire_now(self, account_id: str, grant_id: str) -> GrantRecord:
        def decide(grant: GrantRecord, now: datetime):
            if grant.voided_at is not None:
                raise Conflict("a voided grant cannot be expired")
            return expire_grant(grant, now, reason="expired via API")

        return self._change(account_id, grant_id, decide)

    def delete(self, account_id: str, grant_id: str) -> None:
        def attempt() -> None:
            grant = self.get(account_id, grant_id)
            if grant.ever_applied:
                raise Conflict("credits were already applied from this grant: void it instead of deleting it")
            now = self.now_of(grant)
            gone = grant.evolve(current_balance=ZERO, updated_at=now)
            self.repo.delete_grant(grant, grant.version, entry(gone, "DELETED", grant.current_balance, now,
                                                               context=grant_context(grant)))

        with_retries(attempt, self.attempts)
