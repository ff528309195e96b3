"""The expiry sweep: expire grants past their expiry, then send expiring-soon notices.

Due work is found through the sparse indexes (GSI2: grants holding a balance that will expire;
GSI3: notices not yet sent), never a Scan, so a run's work is proportional to what is due. Every
write is conditioned on the grant version it read, so two sweeps running at once (or a re-run
after a crash) never expire a grant twice or send a notice twice: the loser re-reads and finds
nothing left to do. A run stops before the Lambda's time runs out; the next run continues where
it left off (processed grants have left the indexes).

Throughput: when the store offers the batch methods (`read_grants`, `save_expired_batch`,
`save_noticed_batch`), due grants are handled BATCH_GRANTS at a time: one consistent batch read,
then one transaction writing every grant of the batch (each conditioned on its version) with its
ledger entry or notice. A transaction is all-or-nothing, so a batch that loses any condition (a
concurrent apply, void or sweep) is redone grant by grant, exactly as without batches. One round
trip per grant was ~25 grants/s on DynamoDB Local; batches of 45 are >10x that (BENCHMARKS.md).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

from pydantic import BaseModel

from credits.domain.actors import carrying_actor
from credits.domain.clock import utcnow
from credits.domain.errors import ConcurrentUpdate
from credits.domain.expiry_rules import (
    BATCH_GRANTS,
    DepletionNotice,
    GrantKey,
    Queue,
    is_due_for_expiry,
    is_due_for_notice,
    notice_for,
)
from credits.domain.grant_rules import expire_grant
from credits.domain.records import GrantRecord, LedgerRecord
from credits.domain.rollover_rules import expire_with_rollover, rolls_over
from credits.services.balances import BalanceReader
from credits.services.ports import SweepStore

logger = logging.getLogger(__name__)


class SweepSummary(BaseModel):
    expired: int = 0
    notices: int = 0
    depleted: int = 0  # balances the expiries took to zero (balance_depleted notices written)
    # Due keys that needed nothing (stale index entries, a concurrent sweep got there first).
    skipped: int = 0
    # True when the run stopped for time (or on persistent contention): the next run continues.
    more_remaining: bool = False
    elapsed_ms: int = 0


# ====================================================================== use case


class ExpiryService:
    def __init__(self, store: SweepStore, *, lead: timedelta, shards: int | None = None,
                 clock: Callable[[], datetime] = utcnow, page_size: int = 100, attempts: int = 5,
                 reserve_ms: int = 10_000, workers: int = 4, batch_grants: int = BATCH_GRANTS):
        self.store = store
        self.lead = lead
        self.shards = shards if shards is not None else store.shards
        self.clock = clock
        self.page_size = page_size
        self.attempts = attempts
        # Stop while this much Lambda time is left: one more grant must never overrun the timeout.
        self.reserve_ms = reserve_ms
        self.workers = workers
        # 1 = one transaction per grant (also what a store without the batch methods gets).
        self.batch_grants = max(1, min(batch_grants, BATCH_GRANTS))
        # Balances this run's expiries took from (reset by each run).
        self._emptied: dict[tuple[str, str, str, str], LedgerRecord] = {}
        self._emptied_lock = threading.Lock()

    def run(self, remaining_ms: Callable[[], int] | None = None) -> SweepSummary:
        """One sweep: expiries first (an expired grant needs no notice), then notices. The shards
        are drained in parallel (one thread each: the work is I/O-bound round trips)."""
        started = time.monotonic()
        now = self.clock()
        summary = SweepSummary()
        lock = threading.Lock()

        def out_of_time() -> bool:
            return remaining_ms is not None and remaining_ms() <= self.reserve_ms

        def record(queue: Queue, outcome: str) -> None:
            with lock:
                if outcome == "done":
                    if queue == "EXPIRY":
                        summary.expired += 1
                    else:
                        summary.notices += 1
                elif outcome == "skipped":
                    summary.skipped += 1
                else:  # kept losing to concurrent writers: leave it to the next run
                    summary.more_remaining = True

        def stop_for_time() -> bool:
            if out_of_time():
                with lock:
                    summary.more_remaining = True
                return True
            return False

        def drain(queue: Queue, shard: int) -> None:
            handle = self._expire_one if queue == "EXPIRY" else self._notice_one
            if self._batches(queue):
                batch: list[GrantKey] = []
                for key in self.store.due_keys(queue, shard, now, self.page_size):
                    batch.append(key)
                    if len(batch) >= self.batch_grants:
                        if stop_for_time():
                            return
                        for outcome in self._handle_batch(queue, batch, now):
                            record(queue, outcome)
                        batch = []
                if batch and not stop_for_time():
                    for outcome in self._handle_batch(queue, batch, now):
                        record(queue, outcome)
                return
            for key in self.store.due_keys(queue, shard, now, self.page_size):
                if stop_for_time():
                    return
                record(queue, handle(key, now))

        self._emptied = {}
        for queue in ("EXPIRY", "NOTICE"):
            if out_of_time():  # the notices (or more expiries) wait for the next run
                summary.more_remaining = True
                break
            if self.workers > 1:
                with ThreadPoolExecutor(min(self.workers, self.shards), thread_name_prefix="sweep") as pool:
                    # list(): re-raise errors; each shard's thread acts as this run's actor
                    list(pool.map(carrying_actor(lambda s: drain(queue, s)), range(self.shards)))
            else:
                for shard in range(self.shards):
                    drain(queue, shard)
            if queue == "EXPIRY":
                summary.depleted = self._announce_depletions(now, out_of_time)
        summary.elapsed_ms = int((time.monotonic() - started) * 1000)
        logger.info("expiry sweep", extra={"summary": summary.model_dump()})
        return summary

    def _expired(self, grant: GrantRecord, entries: list[LedgerRecord]) -> None:
        """Remember the balance an EXPIRED entry took from (the last entry of each wins)."""
        with self._emptied_lock:
            self._emptied[(grant.account_id, grant.customer_id, grant.type, grant.balance_scope)] = entries[-1]

    def _announce_depletions(self, now: datetime, out_of_time: Callable[[], bool]) -> int:
        """After the expiries: for each balance they took from, one read of the burn-down index
        tells whether anything usable is left; if not, a notice publishes balance_depleted. Near
        the Lambda's timeout the rest is left unsaid (logged) rather than the run cut off."""
        if not (hasattr(self.store, "burn_candidates") and hasattr(self.store, "save_depletion_notice")):
            return 0
        announced = 0
        pending = sorted(self._emptied.items())
        for done, ((account_id, customer_id, grant_type, scope), entry) in enumerate(pending):
            if out_of_time():
                logger.warning("balance_depleted checks left undone for lack of time",
                               extra={"unchecked": len(pending) - done})
                break
            if not BalanceReader(self.store, account_id, customer_id, grant_type, scope).depleted(now, {}):
                continue
            notice = DepletionNotice(account_id=account_id, customer_id=customer_id, grant_type=grant_type,
                                     currency=scope if grant_type == "CASH" else None,
                                     metric_id=scope if grant_type == "USAGE" else None,
                                     entry_id=entry.id, created_at=now, test_clock_id=entry.test_clock_id)
            try:
                self.store.save_depletion_notice(notice)  # type: ignore[attr-defined]
                announced += 1
            except ConcurrentUpdate:
                pass  # another sweep announced this one already
        return announced

    def _batches(self, queue: Queue) -> bool:
        method = "save_expired_batch" if queue == "EXPIRY" else "save_noticed_batch"
        return self.batch_grants > 1 and hasattr(self.store, "read_grants") and hasattr(self.store, method)

    def _handle_batch(self, queue: Queue, batch: list[GrantKey], now: datetime) -> list[str]:
        """Outcomes of a batch of due keys: one batch read, one transaction for every grant still
        due; if that transaction loses a condition (nothing was written), grant by grant."""
        batch = list(dict.fromkeys(batch))  # one transaction may not touch an item twice
        grants = self.store.read_grants(batch)  # type: ignore[attr-defined]
        outcomes: list[str] = []
        writes: list[tuple[GrantRecord, int, object]] = []
        pending: list[GrantKey] = []
        for key in batch:
            grant = grants.get(key)
            if queue == "EXPIRY":
                if grant is None or not is_due_for_expiry(grant, now):
                    outcomes.append("skipped")
                    continue
                if rolls_over(grant):  # its own transaction: it also creates the rollover grant
                    outcomes.append(self._expire_one(key, now))
                    continue
                updated, entries = expire_grant(grant, now)
                writes.append((updated, grant.version, entries))
            else:
                if grant is None or not is_due_for_notice(grant, now, self.lead):
                    outcomes.append("skipped")
                    continue
                updated, notice = notice_for(grant, now)
                writes.append((updated, grant.version, notice))
            pending.append(key)
        if not writes:
            return outcomes
        save = self.store.save_expired_batch if queue == "EXPIRY" else self.store.save_noticed_batch  # type: ignore[attr-defined]
        try:
            save(writes)
            if queue == "EXPIRY":
                for updated, _, entries in writes:
                    self._expired(updated, entries)  # type: ignore[arg-type]
            return outcomes + ["done"] * len(writes)
        except ConcurrentUpdate:
            handle = self._expire_one if queue == "EXPIRY" else self._notice_one
            return outcomes + [handle(key, now) for key in pending]

    def _expire_one(self, key: GrantKey, now: datetime) -> str:
        def write(grant: GrantRecord) -> None:
            updated, entries, rollover, granted = expire_with_rollover(grant, now)
            if rollover is not None:
                # One transaction: the old grant (its version), its ROLLED_OVER / EXPIRED entries,
                # and the rollover grant (create-once): two sweeps at once roll it over once.
                self.store.save_rolled_over(updated, grant.version, entries, rollover, granted)
            else:
                self.store.save_expired(updated, grant.version, entries)
            self._expired(updated, entries)

        return self._one(key, lambda g: is_due_for_expiry(g, now), write)

    def _notice_one(self, key: GrantKey, now: datetime) -> str:
        def write(grant: GrantRecord) -> None:
            updated, notice = notice_for(grant, now)
            self.store.save_noticed(updated, grant.version, notice)

        return self._one(key, lambda g: is_due_for_notice(g, now, self.lead), write)

    def _one(self, key: GrantKey, due: Callable[[GrantRecord], bool], write: Callable[[GrantRecord], None]) -> str:
        """One grant on its own: read, check it is still due, write conditioned on the version
        read; a lost condition re-reads (another sweep may have done it, or an apply changed it)."""
        for _ in range(self.attempts):
            grant = self.store.read_grant(key)
            if grant is None or not due(grant):
                return "skipped"
            try:
                write(grant)
                return "done"
            except ConcurrentUpdate:
                continue
        return "retry"

