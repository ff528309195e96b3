"""Test clocks with in-memory fakes: the advance steps through the due instants in time order
(running the scheduled work at each), one advance at a time, resumes from the instant saved;
the clock port gives a customer its clock's time and nothing else changes for others."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from credits.domain.errors import Conflict, InvalidRequest, NotFound
from credits.domain.ids import ulid_floor
from credits.domain.test_clock_rules import advance_claim, new_test_clock, next_step
from credits.models.api import AdvanceTestClockRequest, CreateGrantRequest, CreateTestClockRequest
from credits.services.grants import GrantService
from credits.services.test_clocks import CustomerClock, TestClockService

from tests.fakes import InMemoryRepository, InMemoryTestClockStore

ACCOUNT = "acct_1"
T0 = datetime(2027, 1, 1, tzinfo=UTC)
REAL = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


class Recorder:
    """The scheduled work at a clock's instant, as the advance runs it: records the instants and
    consumes the due work up to each."""

    def __init__(self, store: InMemoryTestClockStore, fail_at: datetime | None = None):
        self.store, self.fail_at, self.instants = store, fail_at, []

    def __call__(self, clock_id: str, instant: datetime, deadline: float | None = None) -> bool:
        if instant == self.fail_at:
            self.fail_at = None
            raise RuntimeError("the worker died")
        self.instants.append(instant)
        self.store.due[clock_id] = [t for t in self.store.due.get(clock_id, []) if t > instant]
        return True


@pytest.fixture
def store():
    return InMemoryTestClockStore()


def service(store, run=None, **kwargs) -> TestClockService:
    return TestClockService(store, run or Recorder(store), clock=lambda: REAL, **kwargs)


def make_clock(svc: TestClockService, frozen: str = "2027-01-01T00:00:00Z"):
    return svc.create(ACCOUNT, CreateTestClockRequest.model_validate({"name": "c", "frozenTime": frozen}))


def advance(svc: TestClockService, clock_id: str, to: str, **kwargs):
    return svc.advance(ACCOUNT, clock_id, AdvanceTestClockRequest(frozenTime=to), **kwargs)


def test_an_advance_runs_each_due_instant_in_order_then_the_target(store):
    run = Recorder(store)
    svc = service(store, run)
    clock = make_clock(svc)
    store.due[clock.id] = [utc(2027, 3, 1), utc(2027, 1, 15), utc(2027, 2, 15), utc(2028, 6, 1)]
    done = advance(svc, clock.id, "2028-01-01T00:00:00Z")
    assert run.instants == [utc(2027, 1, 15), utc(2027, 2, 15), utc(2027, 3, 1), utc(2028, 1, 1)]
    assert done.status == "READY" and done.frozen_time == utc(2028, 1, 1) and done.target_time is None
    assert store.due[clock.id] == [utc(2028, 6, 1)]  # later work stays for a later advance


def test_work_already_due_at_the_clocks_time_runs_first_at_that_time(store):
    run = Recorder(store)
    svc = service(store, run)
    clock = make_clock(svc)
    store.due[clock.id] = [T0 - timedelta(days=3)]
    advance(svc, clock.id, "2027-01-02T00:00:00Z")
    assert run.instants == [T0, utc(2027, 1, 2)]


def test_one_advance_at_a_time_and_only_forwards(store):
    svc = service(store)
    clock = make_clock(svc)
    claimed = advance_claim(clock, utc(2027, 2, 1), REAL, timedelta(minutes=2))
    store.save(claimed, clock.version)
    with pytest.raises(Conflict):
        advance(svc, clock.id, "2027-02-01T00:00:00Z")
    ready = make_clock(svc)
    with pytest.raises(InvalidRequest):
        advance(svc, ready.id, "2026-12-31T00:00:00Z")
    with pytest.raises(InvalidRequest):
        advance(svc, ready.id, "2030-01-01T00:00:00Z")  # more than 731 days in one call
    with pytest.raises(NotFound):
        advance(svc, "clock_nope", "2027-02-01T00:00:00Z")


def test_a_dead_worker_is_resumed_from_the_instant_saved_without_running_one_twice(store):
    run = Recorder(store, fail_at=utc(2027, 3, 1))
    svc = service(store, run)
    clock = make_clock(svc)
    store.due[clock.id] = [utc(2027, 1, 15), utc(2027, 2, 15), utc(2027, 3, 1)]
    with pytest.raises(RuntimeError):
        advance(svc, clock.id, "2027-04-01T00:00:00Z")
    stalled = store.get(ACCOUNT, clock.id)
    assert stalled.status == "ADVANCING" and stalled.frozen_time == utc(2027, 2, 15)
    assert svc.resume_stalled() == 0  # its lease still runs
    later = service(store, run)
    later.clock = lambda: REAL + timedelta(minutes=5)
    assert later.resume_stalled() == 1
    assert run.instants == [utc(2027, 1, 15), utc(2027, 2, 15), utc(2027, 3, 1), utc(2027, 4, 1)]
    assert store.get(ACCOUNT, clock.id).status == "READY"


def test_out_of_time_the_rest_is_handed_over(store):
    handed = []
    svc = service(store, kick=handed.append)
    clock = make_clock(svc)
    store.due[clock.id] = [utc(2027, 1, 15)]
    answer = advance(svc, clock.id, "2027-02-01T00:00:00Z", deadline=0)
    assert answer.status == "ADVANCING" and answer.frozen_time == T0 and len(handed) == 1
    # Work handed over at another version, while that holder's lease runs: left alone.
    assert svc.resume(ACCOUNT, clock.id, handed[0].version - 1) == store.get(ACCOUNT, clock.id)
    assert svc.resume(ACCOUNT, clock.id, None).status == "ADVANCING"  # nor taken as stalled
    assert svc.resume(ACCOUNT, clock.id, handed[0].version).status == "READY"


def test_attach_and_the_clock_port(store):
    svc = service(store)
    clock = make_clock(svc)
    store.busy.add((ACCOUNT, "cus_busy"))
    with pytest.raises(Conflict):
        svc.attach(ACCOUNT, clock.id, "cus_busy")
    svc.attach(ACCOUNT, clock.id, "cus_1")
    port = CustomerClock(store, real=lambda: REAL)
    assert port.reading(ACCOUNT, "cus_1") == (T0, clock.id)
    assert port.reading(ACCOUNT, "cus_other") == (REAL, None)
    assert port() == REAL
    live = CustomerClock(None, real=lambda: REAL)
    assert live.reading(ACCOUNT, "cus_1") == (REAL, None)

    # A grant for the clock's customer: its defaults and checks at the clock's time, stamped with it.
    repo = InMemoryRepository()
    grants = GrantService(repo, clock=port)
    body = {"name": "n", "type": "CASH", "amount": "5.00", "currency": "USD", "expiresAt": "2027-01-10T00:00:00Z"}
    on_clock = grants.create(ACCOUNT, CreateGrantRequest.model_validate({"customerId": "cus_1", **body}))
    assert on_clock.effective_at == T0 and on_clock.test_clock_id == clock.id
    assert repo.entries[-1].created_at == T0 and repo.entries[-1].test_clock_id == clock.id
    # The entry id is of the clock's time (its history sorts as it happened), not of the real now.
    assert repo.entries[-1].id[6:16] == ulid_floor(int(T0.timestamp() * 1000))[:10]
    off_clock = grants.create(ACCOUNT, CreateGrantRequest.model_validate({"customerId": "cus_other", **body}))
    assert off_clock.effective_at == REAL and off_clock.test_clock_id is None
    # Past for the clock's customer, still future in real time: refused for it alone.
    late = {**body, "expiresAt": "2026-12-15T00:00:00Z"}
    with pytest.raises(InvalidRequest):
        grants.create(ACCOUNT, CreateGrantRequest.model_validate({"customerId": "cus_1", **late}))
    assert grants.create(ACCOUNT, CreateGrantRequest.model_validate({"customerId": "cus_other", **late}))


def test_delete_goes_in_batches_and_resumes(store):
    handed = []
    svc = service(store, kick=handed.append)
    clock = make_clock(svc)
    svc.attach(ACCOUNT, clock.id, "cus_1")
    store.items[(ACCOUNT, "cus_1")] = 60
    left = svc.delete(ACCOUNT, clock.id, deadline=0)
    assert left.status == "DELETING" and store.items[(ACCOUNT, "cus_1")] == 35 and handed
    assert svc.resume(ACCOUNT, clock.id, handed[-1].version) is None
    assert store.get(ACCOUNT, clock.id) is None and store.membership(ACCOUNT, "cus_1") is None


def test_rules():
    clock = new_test_clock(ACCOUNT, "c", T0, REAL)
    assert clock.status == "READY" and clock.frozen_time == T0 and clock.id.startswith("clock_")
    assert next_step(T0, utc(2027, 2, 1), None) == utc(2027, 2, 1)
    assert next_step(T0, utc(2027, 2, 1), utc(2027, 1, 5)) == utc(2027, 1, 5)
    assert next_step(T0, utc(2027, 2, 1), utc(2027, 3, 1)) == utc(2027, 2, 1)
    assert next_step(T0, utc(2027, 2, 1), utc(2026, 3, 1)) == T0
