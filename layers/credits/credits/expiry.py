"""The expiry sweep: expire grants past their expiry, then send expiring-soon notices.

Due work is found through the sparse indexes (GSI2: grants holding a balance that will expire;
GSI3: notices not yet sent), never a Scan, so a run's work is proportional to what is due. Every
write is conditioned on the grant version it read, so two sweeps running at once (or a re-run
after a crash) never expire a grant twice or send a notice twice: the loser re-reads and finds
nothing left to do. A run stops before the Lambda's time runs out; the next run continues where
it left off (processed grants have left the indexes).
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Literal, Protocol

from pydantic import BaseModel

from credits.clock import expiry_date_of, utcnow
from credits.errors import ConcurrentUpdate
from credits.grants import expire_grant
from credits.records import ZERO, GrantRecord, LedgerRecord

logger = logging.getLogger(__name__)

Queue = Literal["EXPIRY", "NOTICE"]
GrantKey = tuple[str, str]  # (PK, SK) of a grant item, as the KEYS_ONLY indexes return it


# ====================================================================== records and port


@dataclass(frozen=True, slots=True)
class ExpiringNotice:
    """The notice item whose INSERT publishes account.credits.expiring_soon: once per grant, and
    again only if a PATCH moved the expiry (which re-arms the notice)."""

    account_id: str
    customer_id: str
    grant_id: str
    grant_type: str
    currency: str | None
    metric_id: str | None
    name: str
    expires_at: datetime
    current_balance: Decimal
    created_at: datetime
    grant_version: int  # the version written with it: part of the key, so each notice is unique

    @property
    def expiry_date(self) -> str:
        day = expiry_date_of(self.expires_at)
        assert day is not None
        return day.isoformat()


class SweepStore(Protocol):
    """What the sweep needs from storage (adapter: store/sweeps.py)."""

    def due_keys(self, queue: Queue, shard: int, until: datetime, page_size: int) -> Iterator[GrantKey]:
        """Keys of the grants in `queue`'s shard whose due instant is <= until, oldest first,
        read lazily page by page (so stopping early reads no more)."""
        ...

    def read_grant(self, key: GrantKey) -> GrantRecord | None:
        """The grant item, strongly consistent (the indexes are only eventually consistent)."""
        ...

    def save_expired(self, grant: GrantRecord, expected_version: int, entries: Iterable[LedgerRecord]) -> None: ...

    def save_noticed(self, grant: GrantRecord, expected_version: int, notice: ExpiringNotice) -> None: ...


class SweepSummary(BaseModel):
    expired: int = 0
    notices: int = 0
    # Due keys that needed nothing (stale index entries, a concurrent sweep got there first).
    skipped: int = 0
    # True when the run stopped for time (or on persistent contention): the next run continues.
    more_remaining: bool = False
    elapsed_ms: int = 0


# ====================================================================== pure rules


def is_due_for_expiry(grant: GrantRecord, now: datetime) -> bool:
    return (grant.expires_at is not None and grant.expires_at <= now and grant.voided_at is None
            and grant.expired_at is None and grant.current_balance > ZERO)


def is_due_for_notice(grant: GrantRecord, now: datetime, lead: timedelta) -> bool:
    """Within `lead` of its expiry, not expired yet (the expiry pass handles those), still
    holding a balance, and not noticed for this expiry yet."""
    return (not grant.expiring_notice_sent and grant.expires_at is not None
            and grant.expires_at - lead <= now < grant.expires_at
            and grant.voided_at is None and grant.expired_at is None and grant.current_balance > ZERO)


def notice_for(grant: GrantRecord, now: datetime) -> tuple[GrantRecord, ExpiringNotice]:
    """The grant marked as noticed (it leaves the notice index) and the notice to write with it.
    updatedAt is left alone: nothing a client sees has changed."""
    assert grant.expires_at is not None
    updated = grant.evolve(expiring_notice_sent=True, version=grant.version + 1)
    return updated, ExpiringNotice(
        account_id=grant.account_id, customer_id=grant.customer_id, grant_id=grant.id, grant_type=grant.type,
        currency=grant.currency, metric_id=grant.metric_id, name=grant.name, expires_at=grant.expires_at,
        current_balance=grant.current_balance, created_at=now,
        grant_version=updated.version)


# ====================================================================== use case


class ExpiryService:
    def __init__(self, store: SweepStore, *, lead: timedelta, shards: int | None = None,
                 clock: Callable[[], datetime] = utcnow, page_size: int = 100, attempts: int = 5,
                 reserve_ms: int = 10_000, workers: int = 4):
        from credits.store.keys import SHARDS

        self.store = store
        self.lead = lead
        self.shards = shards if shards is not None else SHARDS
        self.clock = clock
        self.page_size = page_size
        self.attempts = attempts
        # Stop while this much Lambda time is left: one more grant must never overrun the timeout.
        self.reserve_ms = reserve_ms
        self.workers = workers

    def run(self, remaining_ms: Callable[[], int] | None = None) -> SweepSummary:
        """One sweep: expiries first (an expired grant needs no notice), then notices. The shards
        are drained in parallel (one thread each: the work is I/O-bound round trips)."""
        started = time.monotonic()
        now = self.clock()
        summary = SweepSummary()
        lock = threading.Lock()

        def out_of_time() -> bool:
            return remaining_ms is not None and remaining_ms() <= self.reserve_ms

        def drain(queue: Queue, shard: int) -> None:
            handle = self._expire_one if queue == "EXPIRY" else self._notice_one
            for key in self.store.due_keys(queue, shard, now, self.page_size):
                if out_of_time():
                    with lock:
                        summary.more_remaining = True
                    return
                outcome = handle(key, now)
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

        for queue in ("EXPIRY", "NOTICE"):
            if out_of_time():  # the notices (or more expiries) wait for the next run
                summary.more_remaining = True
                break
            if self.workers > 1:
                with ThreadPoolExecutor(min(self.workers, self.shards), thread_name_prefix="sweep") as pool:
                    list(pool.map(lambda s: drain(queue, s), range(self.shards)))  # list(): re-raise errors
            else:
                for shard in range(self.shards):
                    drain(queue, shard)
        summary.elapsed_ms = int((time.monotonic() - started) * 1000)
        logger.info("expiry sweep", extra={"summary": summary.model_dump()})
        return summary

    def _expire_one(self, key: GrantKey, now: datetime) -> str:
        for _ in range(self.attempts):
            grant = self.store.read_grant(key)
            if grant is None or not is_due_for_expiry(grant, now):
                return "skipped"
            updated, entries = expire_grant(grant, now)
            try:
                self.store.save_expired(updated, grant.version, entries)
                return "done"
            except ConcurrentUpdate:
                continue  # re-read: another sweep may have expired it, or an apply changed it
        return "retry"

    def _notice_one(self, key: GrantKey, now: datetime) -> str:
        for _ in range(self.attempts):
            grant = self.store.read_grant(key)
            if grant is None or not is_due_for_notice(grant, now, self.lead):
                return "skipped"
            updated, notice = notice_for(grant, now)
            try:
                self.store.save_noticed(updated, grant.version, notice)
                return "done"
            except ConcurrentUpdate:
                continue
        return "retry"
