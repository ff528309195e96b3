"""Test clocks on DynamoDB Local: a year of a customer's credits in one advance (the scheduled
run's own code at each due instant), concurrent advances, customers not on the clock untouched,
attach rules, resume after a crash, and deletion in batches."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from credits import container
from credits.domain.errors import Conflict, InvalidRequest
from credits.models.alerts import CreateAlertRequest
from credits.models.api import (
    AdvanceTestClockRequest,
    ApplyRequest,
    CreateGrantRequest,
    CreateScheduleRequest,
    CreateTestClockRequest,
)
from credits.models.consumptions import ConsumeRequest
from credits.services.ports import LedgerQuery
from credits.services.test_clocks import TestClockService
from credits.store import keys

ACCOUNT = "acct_clock"
T0 = datetime(2027, 1, 1, tzinfo=UTC)
ONE_YEAR = datetime(2028, 1, 1, tzinfo=UTC)

# The v2 ledger invariant: every entry type's sign. Types this branch does not write yet
# (adjustments, consumptions, rollover) count as soon as another branch writes them.
SIGNS = {"GRANTED": 1, "ADJUSTED_UP": 1, "ADJUSTED_DOWN": -1, "APPLIED": -1, "CONSUMED": -1, "RELEASED": 1,
         "EXPIRED": -1, "VOIDED": -1, "ROLLED_OVER": -1}


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def iso(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
def clocks(table):
    container.reset()
    return container.test_clock_service()


def new_clock(clocks: TestClockService, frozen: datetime = T0, name: str = "a year"):
    return clocks.create(ACCOUNT, CreateTestClockRequest.model_validate({"name": name, "frozenTime": iso(frozen)}))


# ROLLOVER HOOK (issue 15): once schedules take `rollover`, the year below rolls each period's
# unused 10.00 over, capped at 5.00, and the expectations grow by what is rolled over.
ROLLOVER_SUPPORTED = "rollover" in CreateScheduleRequest.model_fields


def schedule_body(customer: str, **overrides) -> CreateScheduleRequest:
    """A monthly allowance (with rollover capped at 5.00 when rollover exists, unless `rollover=None`:
    the tests of an advance's mechanics count period grants only)."""
    body = {"customerId": customer, "interval": "MONTH", "startAt": "2027-01-15T00:00:00Z", "expireAfterIntervals": 1,
            "grant": {"name": "Monthly allowance", "type": "CASH", "amount": "10.00", "currency": "USD",
                      "category": "PROMOTIONAL"}, **overrides}
    if ROLLOVER_SUPPORTED:
        body.setdefault("rollover", {"maxAmount": "5.00"})
    return CreateScheduleRequest.model_validate(body)


def grant_body(customer: str, **overrides) -> CreateGrantRequest:
    return CreateGrantRequest.model_validate({"customerId": customer, "name": "90 days", "type": "CASH",
                                              "amount": "50.00", "currency": "USD", **overrides})


def all_entries(customer: str):
    repo = container.repository()
    page = repo.list_ledger(ACCOUNT, customer, LedgerQuery(limit=100))
    entries = list(page.items)
    while page.after:
        page = repo.list_ledger(ACCOUNT, customer, LedgerQuery(limit=100, after=page.after))
        entries += page.items
    return entries


def assert_ledger_invariant(customer: str) -> None:
    repo = container.repository()
    for grant in repo.customer_grants(ACCOUNT, customer):
        entries = repo.grant_ledger(ACCOUNT, customer, grant.id)
        total = sum((SIGNS.get(e.type, 0) * e.amount for e in entries), Decimal(0))
        assert total == grant.current_balance, (grant.id, [(e.type, e.amount) for e in entries])


def test_a_year_in_one_advance_runs_the_scheduled_work_at_the_clocks_instants(clocks):
    clock = new_clock(clocks)
    clocks.attach(ACCOUNT, clock.id, "cus_clock")
    schedule = container.schedule_service().create(ACCOUNT, schedule_body("cus_clock"))
    assert schedule.start_at == utc(2027, 1, 15) and schedule.test_clock_id == clock.id
    ninety = container.grant_service().create(ACCOUNT, grant_body("cus_clock", expiresAt="2027-04-01T00:00:00Z"))
    # Defaults come from the clock: effective at its frozenTime, created then.
    assert ninety.effective_at == T0 and ninety.created_at == T0 and ninety.test_clock_id == clock.id
    app, _ = container.application_service().apply(ACCOUNT, ApplyRequest.model_validate(
        {"invoiceId": "inv_clock_1", "customerId": "cus_clock", "currency": "USD",
         "lines": [{"lineId": "l1", "amount": "20.00"}], "settle": True}))
    assert app.created_at == T0

    # A customer not on the clock: a real-time grant and schedule the advance must not touch.
    real_grant = container.grant_service().create(ACCOUNT, grant_body("cus_real", expiryDate="2030-01-01"))
    real_schedule = container.schedule_service().create(ACCOUNT, schedule_body("cus_real", startAt=None))

    advanced = clocks.advance(ACCOUNT, clock.id, AdvanceTestClockRequest(frozenTime=iso(ONE_YEAR)))
    assert advanced.status == "READY" and advanced.frozen_time == ONE_YEAR and advanced.target_time is None

    repo = container.repository()
    grants = repo.customer_grants(ACCOUNT, "cus_clock")
    periods = sorted((g for g in grants if g.schedule_id == schedule.id and not getattr(g, "rolled_over_from", None)),
                     key=lambda g: g.effective_at)
    assert [g.effective_at for g in periods] == [utc(2027, m, 15) for m in range(1, 13)]  # exactly 12
    assert all(g.test_clock_id == clock.id for g in grants)  # rollover grants included, once they exist
    # Each period's grant expired on its day (one interval later), the last one is still running.
    assert all(g.expired_at == g.expires_at for g in periods[:-1])
    assert periods[-1].expired_at is None and periods[-1].expires_at == utc(2028, 1, 15)

    expired_90 = repo.get_grant(ACCOUNT, ninety.id)
    assert expired_90.expired_at == utc(2027, 4, 1) and expired_90.current_balance == 0

    entries = all_entries("cus_clock")
    # Every entry at the clock's instants, in time order (entry ids follow the clock's time).
    assert [e.created_at for e in entries] == sorted(e.created_at for e in entries)
    assert all(T0 <= e.created_at <= ONE_YEAR and e.test_clock_id == clock.id for e in entries)
    expiry_90 = [e for e in entries if e.grant_id == ninety.id and e.type == "EXPIRED"]
    assert len(expiry_90) == 1 and expiry_90[0].created_at == utc(2027, 4, 1)
    assert_ledger_invariant("cus_clock")

    # The expiring-soon notice of the 90-day grant went out 7 days before, at the clock's time.
    notices = container.repository().client.query(
        TableName=container.get_settings().table_name, KeyConditionExpression="PK = :pk",
        ExpressionAttributeValues={":pk": {"S": keys.grant_ref_key(ACCOUNT, ninety.id)["PK"]}})["Items"]
    sent = [n for n in notices if n["SK"]["S"].startswith("NOTICE#EXPIRING_SOON")]
    assert len(sent) == 1 and sent[0]["createdAt"]["S"] == "2027-03-25T00:00:00Z"

    # Untouched: the real customer's schedule still waits for its first run, its grant is as it was.
    assert container.schedule_service().get(ACCOUNT, real_schedule.id).next_index == 0
    assert repo.get_grant(ACCOUNT, real_grant.id) == real_grant

    # Reads of the clock's customer happen at the clock's time.
    rows, as_of = container.query_service().balance(ACCOUNT, "cus_clock", 30)
    # December's grant, and (with rollover) the 5.00 rolled over from November, still running.
    available = Decimal("15.00") if ROLLOVER_SUPPORTED else Decimal("10.00")
    assert as_of == ONE_YEAR and [r.available for r in rows] == [available]

    # Its report closes months by its clock: the year's flows, and what is owed at the year's end.
    year = container.query_service().report(ACCOUNT, T0, ONE_YEAR, customer_id="cus_clock")
    (row,) = year.rows
    assert Decimal(row.granted) == sum(g.original_amount for g in grants)  # 12 x 10.00 + 50.00 (+ rollovers)
    assert Decimal(row.outstanding) == available
    assert Decimal(row.applied) == Decimal("20.00")

    # Advancing again by the same target: nothing is later than now.
    with pytest.raises(InvalidRequest):
        clocks.advance(ACCOUNT, clock.id, AdvanceTestClockRequest(frozenTime=iso(ONE_YEAR)))


def test_the_service_wide_sweep_never_sees_a_clocks_grants(clocks):
    clock = new_clock(clocks)
    clocks.attach(ACCOUNT, clock.id, "cus_clock")
    grant = container.grant_service().create(ACCOUNT, grant_body("cus_clock", expiresAt="2027-01-05T00:00:00Z"))
    sweep = container.expiry_service()
    sweep.clock = lambda: utc(2031, 1, 1)  # long past the grant's expiry in real time too
    summary = sweep.run()
    assert summary.expired == 0 and summary.notices == 0
    assert container.repository().get_grant(ACCOUNT, grant.id).expired_at is None


def test_two_advances_at_once_one_runs_the_other_is_409(clocks):
    clock = new_clock(clocks)
    clocks.attach(ACCOUNT, clock.id, "cus_clock")
    container.schedule_service().create(ACCOUNT, schedule_body("cus_clock", rollover=None))
    first_is_running, second_answered = threading.Event(), threading.Event()
    inner = clocks.run_due

    def slow_run_due(clock_id, instant, deadline=None):
        first_is_running.set()
        second_answered.wait(30)
        return inner(clock_id, instant, deadline)

    racing = TestClockService(clocks.store, slow_run_due)
    outcomes: dict[str, object] = {}

    def first() -> None:
        outcomes["first"] = racing.advance(ACCOUNT, clock.id, AdvanceTestClockRequest(frozenTime="2027-03-01T00:00:00Z"))

    thread = threading.Thread(target=first)
    thread.start()
    assert first_is_running.wait(30)
    with pytest.raises(Conflict):
        clocks.advance(ACCOUNT, clock.id, AdvanceTestClockRequest(frozenTime="2027-03-01T00:00:00Z"))
    assert clocks.get(ACCOUNT, clock.id).status == "ADVANCING"
    second_answered.set()
    thread.join(60)
    assert outcomes["first"].status == "READY"
    grants = container.repository().customer_grants(ACCOUNT, "cus_clock")
    assert sorted(g.effective_at for g in grants) == [utc(2027, 1, 15), utc(2027, 2, 15)]


def test_an_advance_cut_short_resumes_where_it_stopped_and_grants_no_period_twice(clocks):
    clock = new_clock(clocks)
    clocks.attach(ACCOUNT, clock.id, "cus_clock")
    container.schedule_service().create(ACCOUNT, schedule_body("cus_clock", interval="WEEK", rollover=None))
    handed_over = []
    calls = {"n": 0}
    inner = clocks.run_due

    def crashing(clock_id, instant, deadline=None):
        calls["n"] += 1
        if calls["n"] == 4:
            raise RuntimeError("the worker died")
        return inner(clock_id, instant, deadline)

    dying = TestClockService(clocks.store, crashing, kick=handed_over.append)
    with pytest.raises(RuntimeError):
        dying.advance(ACCOUNT, clock.id, AdvanceTestClockRequest(frozenTime="2027-03-01T00:00:00Z"))
    stalled = clocks.get(ACCOUNT, clock.id)
    assert stalled.status == "ADVANCING" and T0 <= stalled.frozen_time < utc(2027, 3, 1)
    # Its lease has not ended: the scheduled resume leaves it alone; a resume past the lease takes it.
    assert clocks.resume_stalled() == 0
    clocks.clock = lambda: datetime.now(UTC) + timedelta(minutes=10)
    assert clocks.resume_stalled() == 1
    done = clocks.get(ACCOUNT, clock.id)
    assert done.status == "READY" and done.frozen_time == utc(2027, 3, 1)
    weeks = sorted(g.effective_at for g in container.repository().customer_grants(ACCOUNT, "cus_clock"))
    assert weeks == [utc(2027, 1, 15) + timedelta(weeks=n) for n in range(7)]  # 15 Jan .. 26 Feb, once each


def test_a_long_advance_is_handed_over_and_finished_by_the_worker(clocks):
    clock = new_clock(clocks)
    clocks.attach(ACCOUNT, clock.id, "cus_clock")
    container.schedule_service().create(ACCOUNT, schedule_body("cus_clock", interval="DAY", rollover=None))
    handed_over = []
    quick = TestClockService(clocks.store, clocks.run_due, kick=handed_over.append)
    answer = quick.advance(ACCOUNT, clock.id, AdvanceTestClockRequest(frozenTime="2027-03-01T00:00:00Z"),
                           deadline=0)  # no time inline: all of it goes to the worker
    assert answer.status == "ADVANCING" and [c.id for c in handed_over] == [clock.id]
    finished = clocks.resume(ACCOUNT, clock.id, handed_over[0].version)
    assert finished.status == "READY" and finished.frozen_time == utc(2027, 3, 1)
    days = container.repository().customer_grants(ACCOUNT, "cus_clock")
    assert len(days) == (utc(2027, 3, 1) - utc(2027, 1, 15)).days + 1  # 15 Jan .. 1 Mar


def test_attach_only_a_customer_with_nothing_yet(clocks):
    clock = new_clock(clocks)
    other = new_clock(clocks, name="other")
    container.grant_service().create(ACCOUNT, grant_body("cus_busy", expiryDate="2030-01-01"))
    with pytest.raises(Conflict):
        clocks.attach(ACCOUNT, clock.id, "cus_busy")
    container.schedule_service().create(ACCOUNT, schedule_body("cus_planned", startAt=None))
    with pytest.raises(Conflict):
        clocks.attach(ACCOUNT, clock.id, "cus_planned")
    clocks.attach(ACCOUNT, clock.id, "cus_new")
    clocks.attach(ACCOUNT, clock.id, "cus_new")  # again: the same answer
    with pytest.raises(Conflict):
        clocks.attach(ACCOUNT, other.id, "cus_new")
    _, page = clocks.customers(ACCOUNT, clock.id)
    assert page.items == ["cus_new"]


def test_delete_removes_the_clock_and_everything_of_its_customers_in_batches(clocks):
    clock = new_clock(clocks)
    for customer in ("cus_a", "cus_b"):
        clocks.attach(ACCOUNT, clock.id, customer)
        container.schedule_service().create(ACCOUNT, schedule_body(customer, interval="WEEK"))
    container.grant_service().create(ACCOUNT, grant_body("cus_a", expiresAt="2027-02-01T00:00:00Z"))
    container.application_service().apply(ACCOUNT, ApplyRequest.model_validate(
        {"invoiceId": "inv_del", "customerId": "cus_a", "currency": "USD", "lines": [{"lineId": "l1", "amount": "5.00"}]}))
    container.consumption_service().consume(ACCOUNT, ConsumeRequest(eventId="evt_del", customerId="cus_a",
                                                                    currency="USD", amount="1.00"))
    alert = container.watch_service().create_alert(ACCOUNT, CreateAlertRequest(customerId="cus_b", type="CASH",
                                                                               currency="USD", threshold="1.00"))
    clocks.advance(ACCOUNT, clock.id, AdvanceTestClockRequest(frozenTime="2027-04-01T00:00:00Z"))
    kept = container.grant_service().create(ACCOUNT, grant_body("cus_kept", expiryDate="2030-01-01"))
    assert len(container.repository().customer_grants(ACCOUNT, "cus_a")) > 10

    handed_over = []
    partial = TestClockService(clocks.store, clocks.run_due, kick=handed_over.append)
    left = partial.delete(ACCOUNT, clock.id, deadline=0)  # one batch, then handed over
    assert left is not None and left.status == "DELETING" and handed_over
    with pytest.raises(Conflict):
        clocks.advance(ACCOUNT, clock.id, AdvanceTestClockRequest(frozenTime="2027-05-01T00:00:00Z"))
    assert clocks.resume(ACCOUNT, clock.id, handed_over[-1].version) is None  # finished by the worker

    client, table = container.repository().client, container.get_settings().table_name
    for customer in ("cus_a", "cus_b"):
        left_items = client.query(TableName=table, KeyConditionExpression="PK = :pk",
                                  ExpressionAttributeValues={":pk": {"S": keys.customer_pk(ACCOUNT, customer)}})["Items"]
        assert left_items == []
        assert container.schedule_service().list(ACCOUNT, customer_id=customer).items == []
    assert container.application_service().repo.get_application(ACCOUNT, "inv_del") is None
    # Items in partitions of their own that the customers' items name: the consumption, the alert's id.
    for key in (keys.consumption_key(ACCOUNT, "evt_del"), keys.watch_ref_key(ACCOUNT, alert.id)):
        assert "Item" not in client.get_item(TableName=table, Key={k: {"S": v} for k, v in key.items()})
    assert container.repository().get_grant(ACCOUNT, kept.id) == kept
    assert container.test_clock_store().get(ACCOUNT, clock.id) is None
    # The account's grant count is true again: only the kept grant is left.
    from credits.services.ports import GrantQuery
    assert container.repository().list_grants(ACCOUNT, GrantQuery(limit=1), T0).total == 1


def test_live_mode_hides_every_test_clock_route(table, monkeypatch):
    from tests.lambda_calls import Api, load_function

    monkeypatch.setenv("LIVEMODE", "true")
    container.reset()
    module, api = load_function("test_clocks"), Api(account=ACCOUNT)
    routes = [("POST", "/test-clocks", {"name": "n", "frozenTime": "2027-01-01T00:00:00Z"}), ("GET", "/test-clocks", None),
              ("GET", "/test-clocks/clock_x", None), ("DELETE", "/test-clocks/clock_x", None),
              ("POST", "/test-clocks/clock_x/customers", {"customerId": "cus_1"}),
              ("GET", "/test-clocks/clock_x/customers", None),
              ("POST", "/test-clocks/clock_x/advance", {"frozenTime": "2027-02-01T00:00:00Z"})]
    for method, path, body in routes:
        result = module.lambda_handler(api.event(method, path, body=body), None)
        assert result["statusCode"] == 404, (method, path, result)
    # And nothing reads a clock for a customer there: the clock port has no store.
    assert container.customer_clock().store is None
    monkeypatch.setenv("LIVEMODE", "false")
    container.reset()
    created = module.lambda_handler(api.event("POST", "/test-clocks", body=routes[0][2]), None)
    assert created["statusCode"] == 201


def test_events_of_a_clock_customer_carry_its_time_and_id(clocks):
    from credits.events.from_stream import events_from_image

    clock = new_clock(clocks)
    clocks.attach(ACCOUNT, clock.id, "cus_clock")
    grant = container.grant_service().create(ACCOUNT, grant_body("cus_clock", expiresAt="2027-02-01T00:00:00Z"))
    clocks.advance(ACCOUNT, clock.id, AdvanceTestClockRequest(frozenTime="2027-03-01T00:00:00Z"))
    client, table_name = container.repository().client, container.get_settings().table_name
    from credits.store.client import from_wire
    items = []
    for pk in (keys.customer_pk(ACCOUNT, "cus_clock"), keys.grant_ref_key(ACCOUNT, grant.id)["PK"]):
        items += [from_wire(i) for i in client.query(TableName=table_name, KeyConditionExpression="PK = :pk",
                                                     ExpressionAttributeValues={":pk": {"S": pk}})["Items"]]
    events = [e for item in items for e in events_from_image(item)]
    by_type = {e.type: e for e in events}
    assert set(by_type) >= {"account.credits.granted", "account.credits.expiring_soon", "account.credits.expired",
                            "account.credits.balance_depleted"}
    assert all(e.testClockId == clock.id for e in events)
    assert by_type["account.credits.granted"].occurredAt == "2027-01-01T00:00:00Z"
    assert by_type["account.credits.expiring_soon"].occurredAt == "2027-01-25T00:00:00Z"
    assert by_type["account.credits.expired"].occurredAt == "2027-02-01T00:00:00Z"


def test_an_advance_stopped_by_its_deadline_mid_step_loses_and_doubles_nothing(clocks):
    import time

    clock = new_clock(clocks)
    for n in range(3):
        clocks.attach(ACCOUNT, clock.id, f"cus_{n}")
        container.schedule_service().create(ACCOUNT, schedule_body(f"cus_{n}", interval="DAY", startAt=iso(T0), rollover=None))
    handed_over = []
    hurried = TestClockService(clocks.store, clocks.run_due, kick=handed_over.append)
    # Each round has a second: long enough for a write or more however loaded the machine, far too
    # short for the month, so steps are cut short and run again by the next round.
    state = hurried.advance(ACCOUNT, clock.id, AdvanceTestClockRequest(frozenTime="2027-02-01T00:00:00Z"),
                            deadline=time.monotonic() + 1.0)
    rounds = 0
    while state.status != "READY":
        rounds += 1
        assert rounds < 5000  # a safety net only: every round commits something
        state = hurried.resume(ACCOUNT, clock.id, handed_over[-1].version, deadline=time.monotonic() + 1.0)
    for n in range(3):
        days = sorted(g.effective_at for g in container.repository().customer_grants(ACCOUNT, f"cus_{n}"))
        assert days == [T0 + timedelta(days=d) for d in range(31 + 1)]  # 1 Jan .. 1 Feb, once each
        assert_ledger_invariant(f"cus_{n}")


def test_the_sample_events_of_test_clock_function_run(table):
    import json
    from pathlib import Path

    from tests.lambda_calls import load_function

    root = Path(__file__).resolve().parents[2] / "events"
    module = load_function("test_clocks")
    created = module.lambda_handler(json.loads((root / "test-clock-create.json").read_text()), None)
    assert created["statusCode"] == 201 and json.loads(created["body"])["frozenTime"] == "2027-01-01T00:00:00Z"
    # Work for a clock that is not there (any more): nothing to do, and it says so.
    done = module.lambda_handler(json.loads((root / "test-clock-work.json").read_text()), None)
    assert done["status"] == "DELETED"
    resumed = module.lambda_handler(json.loads((root.parent / "events" / "expiry-scheduled.json").read_text()), None)
    assert resumed == {"resumed": 0}
