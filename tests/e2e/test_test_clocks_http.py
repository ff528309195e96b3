"""Test clocks through the running stack: create / get / list / attach / advance / delete over
HTTP, a year of a monthly plan and a 90-day grant in one advance, the /v1 view's test_clock, the
events' clock times, two advances at once, and customers not on the clock untouched."""

from __future__ import annotations

import threading
import time
from typing import Any

from tests.e2e.helpers import assert_error, list_all, new_customer

T0 = "2027-01-01T00:00:00Z"
ONE_YEAR = "2028-01-01T00:00:00Z"


def create_clock(api: Any, frozen: str = T0, key: str = "key_a") -> dict[str, Any]:
    response = api("POST", "/test-clocks", key=key, json={"name": "e2e clock", "frozenTime": frozen})
    assert response.status_code == 201, response.text
    return response.json()


def attach(api: Any, clock_id: str, customer: str) -> None:
    response = api("POST", f"/test-clocks/{clock_id}/customers", json={"customerId": customer})
    assert response.status_code == 201, response.text


def wait_ready(api: Any, clock_id: str, limit: float = 300.0) -> dict[str, Any]:
    """An advance answered ADVANCING goes on in TestClockFunction (the bus's work event)."""
    stop = time.monotonic() + limit
    while True:
        clock = api("GET", f"/test-clocks/{clock_id}").json()
        if clock["status"] == "READY" or time.monotonic() > stop:
            return clock
        time.sleep(0.5)


def monthly(customer: str, **extra: Any) -> dict[str, Any]:
    return {"customerId": customer, "interval": "MONTH", "startAt": "2027-01-15T00:00:00Z", "expireAfterIntervals": 1,
            "grant": {"name": "Monthly", "type": "CASH", "amount": "10.00", "currency": "USD",
                      "category": "PROMOTIONAL"}, **extra}


def test_create_get_list_and_bad_input(api):
    clock = create_clock(api)
    assert clock["id"].startswith("clock_") and clock["status"] == "READY" and clock["frozenTime"] == T0
    assert api("GET", f"/test-clocks/{clock['id']}").json() == clock
    assert clock["id"] in {c["id"] for c in list_all(api, "/test-clocks")}
    assert_error(api("GET", f"/test-clocks/{clock['id']}", key="key_b"), 404, "not_found")  # another account's
    assert_error(api("POST", "/test-clocks", json={"name": "x"}), 400, "validation_error")
    assert_error(api("POST", "/test-clocks", json={"name": "x", "frozenTime": "tomorrow"}), 400, "validation_error")
    assert_error(api("POST", f"/test-clocks/{clock['id']}/advance", json={"frozenTime": "2026-01-01T00:00:00Z"}),
                 400, "validation_error")


def test_attach_only_a_customer_with_nothing_yet(api):
    clock = create_clock(api)
    busy = new_customer()
    assert api("POST", "/credit-grants", json={"customerId": busy, "name": "n", "type": "CASH", "amount": "1.00",
                                               "currency": "USD"}).status_code == 201
    assert_error(api("POST", f"/test-clocks/{clock['id']}/customers", json={"customerId": busy}), 409, "conflict")
    fresh = new_customer()
    attach(api, clock["id"], fresh)
    listed = api("GET", f"/test-clocks/{clock['id']}/customers").json()["items"]
    assert listed == [{"customerId": fresh, "testClockId": clock["id"], "frozenTime": T0}]


def test_a_year_in_one_advance_through_the_stack(api, webhook_receiver):
    clock = create_clock(api)
    customer, bystander = new_customer(), new_customer()
    attach(api, clock["id"], customer)
    schedule = api("POST", "/credit-grant-schedules", json=monthly(customer)).json()
    ninety = api("POST", "/credit-grants", json={"customerId": customer, "name": "90 days", "type": "CASH",
                                                 "amount": "50.00", "currency": "USD",
                                                 "expiresAt": "2027-04-01T00:00:00Z"}).json()
    assert ninety["effectiveAt"] == T0 and ninety["status"] == "ACTIVE"  # at the clock's time
    other = api("POST", "/credit-grants", json={"customerId": bystander, "name": "real", "type": "CASH",
                                                "amount": "5.00", "currency": "USD", "expiryDate": "2030-01-01"}).json()

    response = api("POST", f"/test-clocks/{clock['id']}/advance", json={"frozenTime": ONE_YEAR})
    assert response.status_code == 200, response.text
    assert response.json()["status"] in ("READY", "ADVANCING")
    done = wait_ready(api, clock["id"])
    assert done["status"] == "READY" and done["frozenTime"] == ONE_YEAR

    grants = list_all(api, "/credit-grants", customerId=customer)
    periods = sorted((g for g in grants if g["scheduleId"] == schedule["id"] and not g.get("rolledOverFrom")),
                     key=lambda g: g["effectiveAt"])
    assert [g["effectiveAt"][:10] for g in periods] == [f"2027-{m:02d}-15" for m in range(1, 13)]
    assert [g["status"] for g in periods] == ["EXPIRED"] * 11 + ["ACTIVE"]  # read at the clock's time
    expired = api("GET", f"/credit-grants/{ninety['id']}").json()
    assert expired["status"] == "EXPIRED" and expired["expiredAt"] == "2027-04-01T00:00:00Z"
    history = list_all(api, f"/customers/{customer}/credit-transactions")
    assert [e["createdAt"] for e in history] == sorted(e["createdAt"] for e in history)
    balance = api("GET", f"/customers/{customer}/credit-balance").json()
    assert balance["asOf"] == ONE_YEAR

    # /v1: test_clock on the clock customer's grants and balance transactions, null for others.
    v1 = api("GET", "/v1/billing/credit_grants", params={"customer": customer, "limit": "100"}).json()["data"]
    assert v1 and {g["test_clock"] for g in v1} == {clock["id"]}
    moves = api("GET", "/v1/billing/credit_balance_transactions", params={"customer": customer}).json()["data"]
    assert moves and {t["test_clock"] for t in moves} == {clock["id"]}
    assert api("GET", f"/v1/billing/credit_grants/{other['id']}").json()["test_clock"] is None
    assert api("GET", f"/credit-grants/{other['id']}").json()["status"] == "ACTIVE"

    # Events carry the clock's times and its id.
    expiry = webhook_receiver.wait_for(lambda e: e["detail"].get("type") == "account.credits.expired"
                                       and e["detail"].get("grantId") == ninety["id"], timeout=60)
    assert expiry["detail"]["occurredAt"] == "2027-04-01T00:00:00Z" and expiry["detail"]["testClockId"] == clock["id"]
    notice = webhook_receiver.wait_for(lambda e: e["detail"].get("type") == "account.credits.expiring_soon"
                                       and e["detail"].get("grantId") == ninety["id"], timeout=60)
    assert notice["detail"]["occurredAt"] == "2027-03-25T00:00:00Z"


def test_two_advances_at_once_one_runs_the_other_is_409(api):
    clock = create_clock(api)
    for _ in range(3):
        customer = new_customer()
        attach(api, clock["id"], customer)
        assert api("POST", "/credit-grant-schedules", json=monthly(customer, interval="DAY",
                                                                    startAt=T0)).status_code == 201
    barrier = threading.Barrier(2)
    statuses: list[int] = []

    def advance() -> None:
        barrier.wait()
        statuses.append(api("POST", f"/test-clocks/{clock['id']}/advance",
                            json={"frozenTime": "2027-03-01T00:00:00Z"}).status_code)

    threads = [threading.Thread(target=advance) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert sorted(statuses) == [200, 409]
    assert wait_ready(api, clock["id"])["frozenTime"] == "2027-03-01T00:00:00Z"


def test_delete_removes_the_clock_and_its_customers_credits(api):
    clock = create_clock(api)
    customer = new_customer()
    attach(api, clock["id"], customer)
    grant = api("POST", "/credit-grants", json={"customerId": customer, "name": "n", "type": "CASH",
                                                "amount": "3.00", "currency": "USD"}).json()
    response = api("DELETE", f"/test-clocks/{clock['id']}")
    assert response.status_code in (202, 204), response.text
    stop = time.monotonic() + 120
    while api("GET", f"/test-clocks/{clock['id']}").status_code != 404 and time.monotonic() < stop:
        time.sleep(0.5)
    assert_error(api("GET", f"/test-clocks/{clock['id']}"), 404, "not_found")
    assert_error(api("GET", f"/credit-grants/{grant['id']}"), 404, "not_found")
    assert list_all(api, f"/customers/{customer}/credit-transactions") == []
