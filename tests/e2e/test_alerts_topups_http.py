"""End-to-end tests of balance alerts and automatic top-ups (issue 20) through the local stack:
balance_low / balance_recovered once per crossing from committed writes (consumption, grant,
void), and a top-up rule that makes one grant per crossing even under 20 concurrent
consumptions, with maxPerMonth honoured and account.credits.topped_up published."""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.e2e.helpers import assert_error, cash, create, list_all, new_customer, usage

_API_URL: list[str] = [""]


@pytest.fixture(autouse=True)
def _api_url(stack):
    _API_URL[0] = stack.api_url


def consume(api, customer, **body):
    import requests

    # 20 at once may queue on the local stack's few workers longer than the api fixture's 30 s.
    response = requests.post(f"{_API_URL[0]}/credit-consumptions", timeout=300, headers={"Authorization": "Bearer key_a"},
                             json={"eventId": uuid.uuid4().hex, "customerId": customer, **body})
    assert response.status_code == 201, response.text
    return response.json()


def events_of(receiver, customer, name):
    return receiver.matching(lambda e: (e.get("detail") or {}).get("customerId") == customer and e["detail-type"] == name)


def wait_until(predicate, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


def test_alert_fires_once_per_crossing(api, webhook_receiver):
    customer = new_customer()
    grant = create(api, usage(customer, "10"))
    made = api("POST", "/credit-balance-alerts", json={"customerId": customer, "type": "USAGE", "metricId": "api_calls",
                                                       "threshold": "5"})
    assert made.status_code == 201, made.text
    alert = made.json()
    assert alert["id"].startswith("cba_") and alert["state"] == "ABOVE" and alert["threshold"] == "5"
    consume(api, customer, metricId="api_calls", quantity="6")  # 10 -> 4: crosses
    consume(api, customer, metricId="api_calls", quantity="1")  # 4 -> 3: no crossing
    low = "account.credits.balance_low"
    webhook_receiver.wait_for(lambda e: (e.get("detail") or {}).get("customerId") == customer and e["detail-type"] == low,
                              timeout=60)
    create(api, usage(customer, "5"))  # 3 -> 8: recovers
    recovered = "account.credits.balance_recovered"
    event = webhook_receiver.wait_for(lambda e: (e.get("detail") or {}).get("customerId") == customer and e["detail-type"] == recovered,
                                      timeout=60)
    assert event["detail"]["data"]["balanceBefore"] == "3" and event["detail"]["data"]["balanceAfter"] == "8"
    assert "GRANTED" in event["detail"]["data"]["write"]["types"]
    api("POST", f"/credit-grants/{grant['id']}/void", json={"reason": "test"})  # 8 -> 5: not below 5
    consume(api, customer, metricId="api_calls", quantity="1")  # 5 -> 4: crosses again
    wait_until(lambda: len(events_of(webhook_receiver, customer, low)) == 2)
    first = events_of(webhook_receiver, customer, low)[0]["detail"]["data"]
    assert (first["balanceBefore"], first["balanceAfter"], first["threshold"]) == ("10", "4", "5")
    time.sleep(1)  # nothing more arrives for the writes that did not cross
    assert len(events_of(webhook_receiver, customer, low)) == 2
    assert len(events_of(webhook_receiver, customer, recovered)) == 1
    assert api("GET", f"/credit-balance-alerts/{alert['id']}").json()["state"] == "BELOW"
    listed = list_all(api, "/credit-balance-alerts", customerId=customer)
    assert [a["id"] for a in listed] == [alert["id"]]
    assert api("GET", f"/credit-balance-alerts/{alert['id']}", key="key_b").status_code == 404
    assert api("DELETE", f"/credit-balance-alerts/{alert['id']}").status_code == 204
    assert api("GET", f"/credit-balance-alerts/{alert['id']}").status_code == 404


def test_alert_validation(api):
    customer = new_customer()
    bad = api("POST", "/credit-balance-alerts", json={"customerId": customer, "type": "CASH", "threshold": "1.00"})
    assert assert_error(bad, 400, "validation_error")["details"][0]["field"] == "currency"
    bad = api("POST", "/credit-balance-alerts", json={"customerId": customer, "type": "CASH", "currency": "USD",
                                                      "threshold": "1.001"})
    assert assert_error(bad, 400, "validation_error")["details"][0]["field"] == "threshold"


def test_one_top_up_per_crossing_under_20_concurrent_consumptions(api, webhook_receiver):
    customer = new_customer()
    create(api, cash(customer, "10.00"))
    rule = api("POST", "/credit-top-up-rules", json={
        "customerId": customer, "type": "CASH", "currency": "USD", "threshold": "5.00", "maxPerMonth": 5,
        "grant": {"name": "Top-up", "type": "CASH", "amount": "20.00", "currency": "USD", "category": "PROMOTIONAL"}})
    assert rule.status_code == 201, rule.text
    rule = rule.json()
    assert rule["id"].startswith("ctr_") and rule["status"] == "ACTIVE"

    with ThreadPoolExecutor(max_workers=20) as pool:
        list(pool.map(lambda _: consume(api, customer, currency="USD", amount="0.30"), range(20)))  # 10.00 -> 4.00
    topped = "account.credits.topped_up"
    webhook_receiver.wait_for(lambda e: (e.get("detail") or {}).get("customerId") == customer and e["detail-type"] == topped,
                              timeout=60)
    time.sleep(1.5)
    grants = list_all(api, "/credit-grants", customerId=customer)
    top_ups = [g for g in grants if g.get("topUpRuleId") == rule["id"]]
    assert len(top_ups) == 1 and top_ups[0]["originalAmount"] == "20.00"
    assert len(events_of(webhook_receiver, customer, topped)) == 1
    balance = api("GET", f"/customers/{customer}/credit-balance").json()["balances"][0]
    assert balance["available"] == "24.00"


def test_max_per_month_is_honoured_and_a_disabled_rule_does_nothing(api):
    customer = new_customer()
    create(api, cash(customer, "2.00"))
    rule = api("POST", "/credit-top-up-rules", json={
        "customerId": customer, "type": "CASH", "currency": "USD", "threshold": "1.00", "maxPerMonth": 1,
        "grant": {"name": "Top-up", "type": "CASH", "amount": "1.00", "currency": "USD", "category": "PROMOTIONAL"}}).json()
    consume(api, customer, currency="USD", amount="1.50")  # 2.00 -> 0.50: top-up -> 1.50
    wait_until(lambda: any(g.get("topUpRuleId") for g in list_all(api, "/credit-grants", customerId=customer)))
    wait_until(lambda: api("GET", f"/customers/{customer}/credit-balance").json()["balances"][0]["available"] == "1.50")
    consume(api, customer, currency="USD", amount="1.00")  # 1.50 -> 0.50: crosses again, but the month is used up
    time.sleep(2)
    assert len([g for g in list_all(api, "/credit-grants", customerId=customer) if g.get("topUpRuleId")]) == 1
    patched = api("PATCH", f"/credit-top-up-rules/{rule['id']}", json={"status": "DISABLED", "maxPerMonth": 3})
    assert patched.status_code == 200 and patched.json()["status"] == "DISABLED"
    mismatched = api("POST", "/credit-top-up-rules", json={
        "customerId": customer, "type": "CASH", "currency": "USD", "threshold": "1.00",
        "grant": {"name": "x", "type": "CASH", "amount": "1.00", "currency": "EUR"}})
    assert_error(mismatched, 400, "validation_error")


def test_a_top_up_and_an_alert_on_a_test_clock_happen_at_its_time_and_name_their_actors(api, webhook_receiver):
    """A customer on a test clock: the top-up grant is made at the clock's time, on its clock, by
    the top_up job; the alert's event carries the clock and the actor of the write that crossed."""
    from tests.e2e.test_test_clocks_http import attach, create_clock

    frozen = "2028-05-01T00:00:00Z"
    clock = create_clock(api, frozen)
    customer = new_customer()
    attach(api, clock["id"], customer)
    create(api, cash(customer, "10.00"))
    alert = api("POST", "/credit-balance-alerts", json={"customerId": customer, "type": "CASH", "currency": "USD",
                                                        "threshold": "6.00"})
    assert alert.status_code == 201, alert.text
    rule = api("POST", "/credit-top-up-rules", json={
        "customerId": customer, "type": "CASH", "currency": "USD", "threshold": "5.00", "maxPerMonth": 1,
        "grant": {"name": "Top-up", "type": "CASH", "amount": "3.00", "currency": "USD", "category": "PROMOTIONAL"}})
    assert rule.status_code == 201, rule.text
    consume(api, customer, currency="USD", amount="6.00")  # 10.00 -> 4.00: crosses both
    topped = webhook_receiver.wait_for(
        lambda e: (e.get("detail") or {}).get("customerId") == customer
        and e["detail-type"] == "account.credits.topped_up", timeout=60)["detail"]
    assert topped["occurredAt"] == frozen and topped["testClockId"] == clock["id"]
    assert topped["actor"] == {"type": "system", "job": "top_up"}
    [grant] = [g for g in list_all(api, "/credit-grants", customerId=customer) if g.get("topUpRuleId")]
    assert grant["effectiveAt"] == frozen and grant["createdAt"] == frozen
    low = webhook_receiver.wait_for(
        lambda e: (e.get("detail") or {}).get("customerId") == customer
        and e["detail-type"] == "account.credits.balance_low", timeout=60)["detail"]
    assert low["occurredAt"] == frozen and low["testClockId"] == clock["id"]
    assert low["actor"]["type"] == "api_key"


def test_alerts_rules_and_test_clocks_are_in_the_audit_trail(api):
    from tests.e2e.test_test_clocks_http import create_clock

    customer = new_customer()
    alert = api("POST", "/credit-balance-alerts", json={"customerId": customer, "type": "CASH", "currency": "USD",
                                                        "threshold": "1.00"}).json()
    rule = api("POST", "/credit-top-up-rules", json={
        "customerId": customer, "type": "CASH", "currency": "USD", "threshold": "1.00",
        "grant": {"name": "t", "type": "CASH", "amount": "1.00", "currency": "USD"}}).json()
    assert api("PATCH", f"/credit-top-up-rules/{rule['id']}", json={"maxPerMonth": 4}).status_code == 200
    assert api("DELETE", f"/credit-balance-alerts/{alert['id']}").status_code == 204
    clock = create_clock(api)

    def actions(resource_id):
        items = api("GET", "/audit-events", params={"resourceId": resource_id}).json()["items"]
        return sorted((e["action"], (e.get("actor") or {}).get("type")) for e in items)

    wait_until(lambda: len(actions(alert["id"])) == 2 and len(actions(rule["id"])) == 2 and actions(clock["id"]))
    assert actions(alert["id"]) == [("credit_balance_alert.created", "api_key"), ("credit_balance_alert.deleted", "api_key")]
    assert actions(rule["id"]) == [("credit_top_up_rule.created", "api_key"), ("credit_top_up_rule.updated", "api_key")]
    assert actions(clock["id"]) == [("test_clock.created", "api_key")]
