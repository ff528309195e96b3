"""Test clocks (`/test-clocks`, not in live mode): the one clock port of the services, and the
use cases of the clocks themselves (create, get, list, attach a customer, advance, delete).

The clock port (`CustomerClock`) answers "now" for a customer: its test clock's frozenTime, or
the real time. Services take it where they always took a clock (`clock()` is still the real
time); domain/clock.now_for / now_of ask it for a customer or a grant.

An advance moves the clock from its frozenTime to the target in steps, one per instant at which
the clock's own queues hold due work (expiry, expiring-soon notice, schedule period: the first
item of each, store.next_due), and runs at each step the SAME code the scheduled run runs —
ExpiryService and ScheduleService, built over the clock's queues with that instant as their
clock — then saves the instant reached. Each step is idempotent (the sweep's writes are
conditioned on the versions read; a period's grant id is derived from its schedule and index),
so a worker that dies is resumed from the instant saved, and never runs a period twice. The
clock item is the lock: ADVANCING is a conditional write (a second advance is 409), and each
step's save is conditioned on the version the worker holds (a lost lease stops it)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from credits.domain.actors import acting_as, current_actor, system_actor
from credits.domain.clock import utcnow
from credits.domain.errors import ConcurrentUpdate, Conflict, InvalidRequest, NotFound
from credits.domain.records import GrantRecord, Page, TestClockRecord
from credits.domain.test_clock_rules import LEASE, advance_claim, new_test_clock, next_step
from credits.models.api import AdvanceTestClockRequest, CreateTestClockRequest
from credits.services.ports import TestClockStore

logger = logging.getLogger(__name__)

# The work item that hands an unfinished advance or deletion to TestClockFunction (template.yaml).
WORK_SOURCE = "credits.test-clocks"
WORK_DETAIL_TYPE = "Test Clock Work"


# ====================================================================== the clock port


class CustomerClock:
    """Now for a customer: its test clock's frozenTime when it is on one, else the real time.
    Without a store (live mode) it never reads anything."""

    def __init__(self, store: TestClockStore | None, real: Callable[[], datetime] = utcnow):
        self.store = store
        self.real = real

    def __call__(self) -> datetime:
        return self.real()

    def reading(self, account_id: str, customer_id: str) -> tuple[datetime, str | None]:
        """(now, test clock id or None) for a customer."""
        if self.store is None:
            return self.real(), None
        clock_id = self.store.membership(account_id, customer_id)
        if clock_id is None:
            return self.real(), None
        return self.at(account_id, clock_id), clock_id

    def at(self, account_id: str, clock_id: str | None) -> datetime:
        """Now on a test clock (the real time for None, or a clock that is gone)."""
        if self.store is None or clock_id is None:
            return self.real()
        clock = self.store.get(account_id, clock_id)
        return clock.frozen_time if clock is not None else self.real()

    def times(self, account_id: str, grants: list[GrantRecord]) -> dict[str, datetime]:
        """Now on each test clock these grants are on (a list read once per clock)."""
        return {clock_id: self.at(account_id, clock_id)
                for clock_id in dict.fromkeys(g.test_clock_id for g in grants if g.test_clock_id)}


# ====================================================================== use cases


class DueRunner(Protocol):
    def __call__(self, clock_id: str, instant: datetime, deadline: float | None = None) -> bool:
        """Run everything of the clock's queues due by `instant`, as the scheduled run does,
        starting no new work after `deadline` (time.monotonic()); True when nothing was left
        undone (contention or the deadline leave some for another pass)."""
        ...


@dataclass
class AdvanceOutcome:
    clock: TestClockRecord
    steps: int = 0


class TestClockService:
    __test__ = False  # not a pytest class

    def __init__(self, store: TestClockStore, run_due: DueRunner, *, clock: Callable[[], datetime] = utcnow,
                 kick: Callable[[TestClockRecord], None] | None = None, lease: timedelta = LEASE,
                 same_instant_attempts: int = 5):
        self.store = store
        self.run_due = run_due
        self.clock = clock  # the real time (leases, createdAt)
        # Hands an unfinished advance or deletion to an asynchronous worker (an EventBridge event).
        self.kick = kick
        self.lease = lease
        self.same_instant_attempts = same_instant_attempts

    # ------------------------------------------------------------------ create / read
    def create(self, account_id: str, body: CreateTestClockRequest) -> TestClockRecord:
        clock = new_test_clock(account_id, body.name, body.frozenTime, self.clock())  # type: ignore[arg-type]
        self.store.put_new(clock)
        return clock

    def get(self, account_id: str, clock_id: str) -> TestClockRecord:
        clock = self.store.get(account_id, clock_id)
        if clock is None:
            raise NotFound(f"test clock {clock_id} not found", field="testClockId")
        return clock

    def list(self, account_id: str, *, limit: int = 20, after: str | None = None, before: str | None = None) -> Page:
        if after and before:
            raise InvalidRequest("give after or before, not both", field="before")
        return self.store.list(account_id, limit=limit, after=after, before=before)

    def customers(self, account_id: str, clock_id: str, *, limit: int = 20, after: str | None = None,
                  before: str | None = None) -> tuple[TestClockRecord, Page]:
        clock = self.get(account_id, clock_id)
        if after and before:
            raise InvalidRequest("give after or before, not both", field="before")
        return clock, self.store.customers(account_id, clock_id, limit=limit, after=after, before=before)

    # ------------------------------------------------------------------ attach
    def attach(self, account_id: str, clock_id: str, customer_id: str) -> TestClockRecord:
        """The customer lives at the clock's time from now on. Only a customer with nothing yet
        (no grant, entry, schedule) and on no clock: 409 otherwise."""
        clock = self.get(account_id, clock_id)
        if clock.status == "DELETING":
            raise Conflict("the test clock is being deleted", field="testClockId")
        member_of = self.store.membership(account_id, customer_id)
        if member_of == clock_id:
            return clock  # attached already: the same answer again
        if member_of is not None:
            raise Conflict(f"customer {customer_id} is on test clock {member_of} already", field="customerId")
        if self.store.customer_has_anything(account_id, customer_id):
            raise Conflict(f"customer {customer_id} has credits, schedules or history already: only a customer "
                           "with nothing yet can be attached to a test clock", field="customerId")
        try:
            self.store.attach(clock, customer_id)
        except ConcurrentUpdate:
            raise Conflict("the test clock or the customer changed meanwhile; retry", field="customerId") from None
        return clock

    # ------------------------------------------------------------------ advance
    def advance(self, account_id: str, clock_id: str, body: AdvanceTestClockRequest,
                deadline: float | None = None) -> TestClockRecord:
        """Claim the clock (ADVANCING, conditional: a concurrent advance is 409) and step it
        towards the target until done (READY) or `deadline` (time.monotonic()); what is left
        goes to the asynchronous worker."""
        clock = self.get(account_id, clock_id)
        claimed = advance_claim(clock, body.frozenTime, self.clock(), self.lease).evolve(  # type: ignore[arg-type]
            changed_by=current_actor())
        try:
            self.store.save(claimed, clock.version)
        except ConcurrentUpdate:
            raise Conflict("the test clock is being advanced by another request", field="testClockId") from None
        return self._work_or_hand_over(claimed, deadline)

    def resume(self, account_id: str, clock_id: str, version: int | None = None,
               deadline: float | None = None) -> TestClockRecord | None:
        """The asynchronous worker: take over a clock at work that was handed over at `version`
        (or whose worker's lease has ended) and go on with it. None when gone."""
        clock = self.store.get(account_id, clock_id)
        if clock is None or clock.status == "READY":
            return clock
        now = self.clock()
        handed_to_me = version is not None and clock.version == version
        lapsed = clock.lease_until is None or clock.lease_until <= now
        if not (handed_to_me or lapsed):
            return clock  # another worker holds it (its lease runs)
        taken = clock.evolve(lease_until=now + self.lease, updated_at=now, version=clock.version + 1)
        try:
            self.store.save(taken, clock.version)
        except ConcurrentUpdate:
            return clock
        result = self._work_or_hand_over(taken, deadline)
        return None if result.status == "DELETED" else result

    def resume_stalled(self, deadline: float | None = None) -> int:
        """The scheduled run: resume every clock whose worker's lease ended (it died)."""
        resumed = 0
        for account_id, clock_id in list(self.store.at_work(self.clock())):
            if deadline is not None and time.monotonic() >= deadline:
                break
            self.resume(account_id, clock_id, deadline=deadline)
            resumed += 1
        return resumed

    def _work_or_hand_over(self, clock: TestClockRecord, deadline: float | None) -> TestClockRecord:
        try:
            clock = self._delete_steps(clock, deadline) if clock.status == "DELETING" else self._steps(clock, deadline)
        except ConcurrentUpdate:
            return self.store.get(clock.account_id, clock.id) or clock  # another worker took it over
        if clock.status != "READY" and self.store.get(clock.account_id, clock.id) is not None and self.kick:
            self.kick(clock)
        return clock

    def _steps(self, clock: TestClockRecord, deadline: float | None) -> TestClockRecord:
        """Step through the due instants up to the target, saving each instant reached."""
        assert clock.target_time is not None
        last_run: datetime | None = None
        repeats = 0
        while True:
            if deadline is not None and time.monotonic() >= deadline:
                return clock
            instant = next_step(clock.frozen_time, clock.target_time, self.store.next_due(clock.id))
            if instant == last_run:
                # Work still due at the instant just run: contention, or an index not caught up yet.
                repeats += 1
                if repeats >= self.same_instant_attempts:
                    raise RuntimeError(f"test clock {clock.id}: work due at {instant} is not done after "
                                       f"{repeats} passes")
                time.sleep(0.05 * repeats)
            else:
                repeats = 0
            with acting_as(system_actor("test_clock")):  # its entries name the clock's job, not the sweep's
                complete = self.run_due(clock.id, instant, deadline)
            last_run = instant
            if not complete:
                continue
            now = self.clock()
            done = instant >= clock.target_time
            reached = clock.evolve(frozen_time=instant, updated_at=now, version=clock.version + 1,
                                   lease_until=None if done else now + self.lease,
                                   status="READY" if done else "ADVANCING", target_time=None if done else clock.target_time)
            self.store.save(reached, clock.version)  # ConcurrentUpdate: the lease was lost
            clock = reached
            if done:
                return clock

    # ------------------------------------------------------------------ delete
    def delete(self, account_id: str, clock_id: str, deadline: float | None = None) -> TestClockRecord | None:
        """DELETING (conditional; an advancing clock is 409), then its customers' items in
        batches; None once all is gone, else the clock (the asynchronous worker finishes)."""
        clock = self.get(account_id, clock_id)
        if clock.status == "ADVANCING":
            raise Conflict("the test clock is advancing; delete it once it is READY", field="testClockId")
        if clock.status == "READY":
            now = self.clock()
            deleting = clock.evolve(status="DELETING", updated_at=now, changed_by=current_actor(), lease_until=now + self.lease,
                                    version=clock.version + 1)
            try:
                self.store.save(deleting, clock.version)
            except ConcurrentUpdate:
                raise Conflict("the test clock changed meanwhile; retry", field="testClockId") from None
            clock = deleting
        clock = self._work_or_hand_over(clock, deadline)
        return self.store.get(account_id, clock_id)

    def _delete_steps(self, clock: TestClockRecord, deadline: float | None) -> TestClockRecord:
        for customer_id in self.store.all_customers(clock.account_id, clock.id):
            while self.store.delete_some(clock.account_id, clock.id, customer_id):
                if deadline is not None and time.monotonic() >= deadline:
                    return clock
        self.store.delete_clock(clock)
        return clock.evolve(status="DELETED")



def run_due_at(sweep: Any, schedules: Any, instant: datetime, deadline: float | None = None) -> bool:
    """What the scheduled run does (functions/expiry), over one test clock's queues at one of its
    instants: expiries and expiring-soon notices (services/expiry.ExpiryService), then the
    periods begun (services/schedules.ScheduleService), both stopping at `deadline` as they stop
    at the Lambda's. True when nothing was left undone."""
    remaining = None if deadline is None else (lambda: int((deadline - time.monotonic()) * 1000))
    summary = sweep.run(remaining_ms=remaining)
    result = schedules.run_due(instant, deadline)
    return not summary.more_remaining and not result.incomplete and result.failed == 0
