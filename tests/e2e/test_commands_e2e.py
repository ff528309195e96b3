"""Commands and recurring grants end to end on the local stack: commands through the Lambda
invoke API (and through the local bus's rules), results checked over HTTP; schedules over HTTP
and a run by invoking ExpiryFunction."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from tests.e2e.helpers import new_customer, new_invoice

ROOT = Path(__file__).resolve().parents[2]
GRANT = {"name": "Welcome credits", "type": "CASH", "amount": "50.00", "currency": "USD"}


def _client(service: str, endpoint: str) -> Any:
    return boto3.client(service, endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="x",
                        aws_secret_access_key="x", config=Config(retries={"max_attempts": 1}, read_timeout=120))


@pytest.fixture(scope="module")
def invoke(stack):
    client = _client("lambda", stack.lambda_url)

    def call(function: str, payload: dict[str, Any]) -> Any:
        response = client.invoke(FunctionName=function, Payload=json.dumps(payload).encode())
        body = json.loads(response["Payload"].read() or b"null")
        assert "FunctionError" not in response, body
        return body

    return call


def command(detail_type: str, detail: Any) -> dict[str, Any]:
    return {"version": "0", "id": str(uuid.uuid4()), "detail-type": detail_type, "source": "billing.system",
            "account": "123456789012", "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": "us-east-1", "resources": [], "detail": detail}


def bus_events(stack, predicate) -> list[dict[str, Any]]:
    return [e for e in list(stack.bus.events) if predicate(e)]


def grants_of(api, customer_id: str, key: str = "key_a") -> list[dict[str, Any]]:
    response = api("GET", "/credit-grants", key=key, params={"customerId": customer_id, "limit": 100})
    assert response.status_code == 200, response.text
    return response.json()["items"]


# ---------------------------------------------------------------- grant / void


def test_grant_by_command_is_visible_over_http(stack, api, invoke):
    cus = new_customer(10)
    grant = invoke("GrantFunction", command("Grant Credits", {"accountId": "acct_a", "grant": {**GRANT, "customerId": cus}}))
    assert grant["id"].startswith("cg_") and "statusCode" not in grant
    response = api("GET", f"/credit-grants/{grant['id']}")
    assert response.status_code == 200 and response.json() == grant
    assert api("GET", f"/credit-grants/{grant['id']}", key="key_b").status_code == 404


def test_same_event_twice_makes_one_grant(stack, api, invoke):
    cus = new_customer(10)
    event = command("Grant Credits", {"accountId": "acct_a", "grant": {**GRANT, "customerId": cus}})
    first, second = invoke("GrantFunction", event), invoke("GrantFunction", event)
    assert first == second
    assert [g["id"] for g in grants_of(api, cus)] == [first["id"]]


def test_invalid_command_publishes_command_failed_and_grants_nothing(stack, api, invoke):
    cus = new_customer(10)
    event = command("Grant Credits", {"accountId": "acct_a", "grant": {**GRANT, "customerId": cus, "amount": 50}})
    result = invoke("GrantFunction", event)  # returns normally: no retry
    assert result["error"]["code"] == "validation_error"
    [failed] = bus_events(stack, lambda e: e["detail-type"] == "account.credits.command_failed"
                          and e["detail"]["data"]["commandId"] == event["id"])
    assert failed["source"] == "credits.service"
    assert failed["detail"]["data"] == {"commandId": event["id"], "detailType": "Grant Credits", "error": result}
    assert grants_of(api, cus) == []


def test_void_of_another_accounts_grant_fails_and_own_void_works(stack, api, invoke):
    cus = new_customer(10)
    grant = invoke("GrantFunction", command("Grant Credits", {"accountId": "acct_a", "grant": {**GRANT, "customerId": cus}}))
    theirs = command("Void Credit Grant", {"accountId": "acct_b", "grantId": grant["id"], "reason": "not yours"})
    assert invoke("VoidFunction", theirs)["error"]["code"] == "not_found"
    assert bus_events(stack, lambda e: e["detail-type"] == "account.credits.command_failed"
                      and e["detail"]["data"]["commandId"] == theirs["id"])
    voided = invoke("VoidFunction", command("Void Credit Grant", {"accountId": "acct_a", "grantId": grant["id"],
                                                                  "reason": "churned"}))
    assert voided["status"] == "VOIDED"
    assert api("GET", f"/credit-grants/{grant['id']}").json() == voided


def test_command_put_on_the_bus_reaches_grant_function(stack, api):
    """The template's rule (source anything-but credits.service) routes it, asynchronously."""
    cus = new_customer(10)
    events = _client("events", stack.events_url)
    events.put_events(Entries=[{"Source": "signup.service", "DetailType": "Grant Credits",
                                "Detail": json.dumps({"accountId": "acct_a", "grant": {**GRANT, "customerId": cus}})}])
    deadline = time.monotonic() + 15
    while not (found := grants_of(api, cus)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert len(found) == 1
    # The service's own source never matches, so nothing loops.
    other = new_customer(10)
    events.put_events(Entries=[{"Source": "credits.service", "DetailType": "Grant Credits",
                                "Detail": json.dumps({"accountId": "acct_a", "grant": {**GRANT, "customerId": other}})}])
    time.sleep(1.0)
    assert grants_of(api, other) == []


# ---------------------------------------------------------------- apply / settle / release


def _stable(application: dict[str, Any]) -> dict[str, Any]:
    """An application without what differs between two customers' twins (ids, times)."""
    drop = {"invoiceId", "customerId", "createdAt", "updatedAt", "actor"}  # a command's actor vs an API key
    result = {k: v for k, v in application.items() if k not in drop}
    result["allocations"] = [{k: v for k, v in a.items() if k != "grantId"} for a in application["allocations"]]
    return result


def test_apply_settle_release_by_command_match_http(stack, api, invoke):
    probe = api("POST", "/credit-applications", json={})
    if probe.status_code in (404, 501):
        pytest.skip("/credit-applications is not served yet")
    if "handle_command" not in (ROOT / "functions" / "apply" / "app.py").read_text():
        pytest.skip("ApplyFunction does not take commands yet (lambda_entry(app, commands=handle_command, ...))")
    http_cus, cmd_cus = new_customer(10), new_customer(10)
    for cus in (http_cus, cmd_cus):
        assert api("POST", "/credit-grants", json={**GRANT, "customerId": cus}).status_code == 201
    lines = [{"lineId": "l1", "amount": "150.00"}]
    http_inv, cmd_inv = new_invoice(8), new_invoice(8)

    by_http = api("POST", "/credit-applications", json={"invoiceId": http_inv, "customerId": http_cus,
                                                         "currency": "USD", "lines": lines})
    assert by_http.status_code == 201, by_http.text
    by_cmd = invoke("ApplyFunction", command("Apply Credits", {"accountId": "acct_a", "application": {
        "invoiceId": cmd_inv, "customerId": cmd_cus, "currency": "USD", "lines": lines}}))
    assert by_cmd["creditsApplied"] == "50.00" and by_cmd["totalDue"] == "100.00"
    assert _stable(by_cmd) == _stable(by_http.json())
    assert api("GET", f"/credit-applications/{cmd_inv}").json() == by_cmd

    for action, detail_type in (("settle", "Settle Credit Application"), ("release", "Release Credit Application")):
        http_result = api("POST", f"/credit-applications/{http_inv}/{action}")
        assert http_result.status_code == 200, http_result.text
        cmd_result = invoke("ApplyFunction", command(detail_type, {"accountId": "acct_a", "invoiceId": cmd_inv}))
        assert _stable(cmd_result) == _stable(http_result.json())
        assert api("GET", f"/credit-applications/{cmd_inv}").json() == cmd_result
    missing = invoke("ApplyFunction", command("Settle Credit Application", {"accountId": "acct_b", "invoiceId": cmd_inv}))
    assert missing["error"]["code"] == "not_found"


# ---------------------------------------------------------------- recurring grants


def test_schedule_create_get_list_cancel_over_http(stack, api):
    cus = new_customer(10)
    body = {"customerId": cus, "interval": "MONTH", "expireAfterIntervals": 1,
            "grant": {"name": "Monthly API allowance", "type": "USAGE", "amount": "100000", "metricId": "api_calls"}}
    created = api("POST", "/credit-grant-schedules", json=body)
    assert created.status_code == 201, created.text
    schedule = created.json()
    assert set(schedule) == {"id", "customerId", "grant", "interval", "intervalCount", "startAt", "endAt",
                             "expireAfterIntervals", "status", "nextGrantAt", "createdAt", "updatedAt", "rollover",
                             "actor", "canceledBy"}
    assert schedule["status"] == "ACTIVE" and schedule["nextGrantAt"] == schedule["startAt"]
    assert api("GET", f"/credit-grant-schedules/{schedule['id']}").json() == schedule
    assert api("GET", f"/credit-grant-schedules/{schedule['id']}", key="key_b").status_code == 404
    listed = api("GET", "/credit-grant-schedules", params={"customerId": cus}).json()
    assert [s["id"] for s in listed["items"]] == [schedule["id"]] and listed["pagination"]["totalResultSize"] == 1

    bad = api("POST", "/credit-grant-schedules", json={**body, "startAt": "2020-01-01T00:00:00Z"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "validation_error"
    bad = api("POST", "/credit-grant-schedules", json={**body, "grant": {**body["grant"], "effectiveDate": "2030-01-01"}})
    assert bad.status_code == 400

    canceled = api("POST", f"/credit-grant-schedules/{schedule['id']}/cancel")
    assert canceled.status_code == 200 and canceled.json()["status"] == "CANCELED"
    assert canceled.json()["nextGrantAt"] is None
    assert api("POST", f"/credit-grant-schedules/{schedule['id']}/cancel").json() == canceled.json()


def test_expiry_function_run_grants_what_is_due(stack, api, invoke):
    if "run_due_schedules" not in (ROOT / "functions" / "expiry" / "app.py").read_text():
        pytest.skip("ExpiryFunction does not run recurring grants yet (schedules.run_due_schedules)")
    cus = new_customer(10)
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=15)  # weekly: 3 periods begun
    body = {"customerId": cus, "interval": "WEEK", "expireAfterIntervals": 3,
            "startAt": start.strftime("%Y-%m-%dT%H:%M:%SZ"), "grant": GRANT}
    schedule = api("POST", "/credit-grant-schedules", json=body).json()
    invoke("ExpiryFunction", {})
    made = sorted(grants_of(api, cus), key=lambda g: g["effectiveAt"])
    expected = [start + timedelta(weeks=n) for n in range(3)]
    assert [g["effectiveAt"] for g in made] == [d.strftime("%Y-%m-%dT%H:%M:%SZ") for d in expected]
    assert [g["expiresAt"] for g in made] == [(d + timedelta(weeks=3)).strftime("%Y-%m-%dT%H:%M:%SZ") for d in expected]
    assert {g["scheduleId"] for g in made} == {schedule["id"]}
    invoke("ExpiryFunction", {})  # again: nothing more
    assert len(grants_of(api, cus)) == 3
    after = api("GET", f"/credit-grant-schedules/{schedule['id']}").json()
    assert after["nextGrantAt"] == (start + timedelta(weeks=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
