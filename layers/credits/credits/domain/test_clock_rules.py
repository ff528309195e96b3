"""Test clock rules (pure): a new clock, claiming one for an advance, and the next instant an
advance steps to."""

from __future__ import annotations

from datetime import datetime, timedelta

from credits.domain.errors import Conflict, InvalidRequest
from credits.domain.ids import new_test_clock_id
from credits.domain.records import TestClockRecord

# How long a worker owns a clock at work without saving progress; then another may take over.
LEASE = timedelta(minutes=2)
# The furthest one advance may go: bounded work per call (Stripe allows two intervals; a year
# of a monthly plan with its expiries must fit in one).
MAX_ADVANCE = timedelta(days=731)


def new_test_clock(account_id: str, name: str, frozen_time: datetime, now: datetime) -> TestClockRecord:
    return TestClockRecord(id=new_test_clock_id(), account_id=account_id, name=name, frozen_time=frozen_time,
                           status="READY", created_at=now, updated_at=now)


def advance_claim(clock: TestClockRecord, target: datetime, now: datetime, lease: timedelta) -> TestClockRecord:
    """The clock ADVANCING towards `target`, held by this worker for `lease`. A clock at work is
    409, except one whose worker's lease ended while advancing to the same target (a resume)."""
    if clock.status == "DELETING":
        raise Conflict("the test clock is being deleted", field="testClockId")
    if clock.status == "ADVANCING":
        stalled = clock.lease_until is not None and clock.lease_until <= now and clock.target_time == target
        if not stalled:
            raise Conflict("the test clock is being advanced already; retry once it is READY", field="testClockId")
    elif target <= clock.frozen_time:
        raise InvalidRequest("frozenTime must be later than the clock's frozenTime", field="frozenTime")
    if target - clock.frozen_time > MAX_ADVANCE:
        raise InvalidRequest("frozenTime may be at most 731 days after the clock's frozenTime", field="frozenTime")
    return clock.evolve(status="ADVANCING", target_time=target, lease_until=now + lease, updated_at=now,
                        version=clock.version + 1)


def next_step(frozen: datetime, target: datetime, next_due: datetime | None) -> datetime:
    """The instant the advance runs next: the earliest due work, never before the instant
    reached (work due then is run then) nor past the target."""
    if next_due is None or next_due >= target:
        return target
    return max(frozen, next_due)
