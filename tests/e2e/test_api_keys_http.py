"""API keys, scopes, HTTP Basic and actors through the running local stack.

The scope matrix is generated from template.yaml's route table: a route added to the template
is in it without anyone remembering to add it here."""

from __future__ import annotations

import base64
import time
import uuid
from typing import Any

import pytest

from local.template import functions, load_template
from tests.e2e.conftest import AUTHORIZER_TTL_SECONDS
from tests.e2e.helpers import cash, create, new_customer, new_invoice


def _routes() -> list[tuple[str, str]]:
    """(method, path template) of every route that needs an API key."""
    return sorted({(event.method.upper(), event.path) for spec in functions(load_template()).values()
                   for event in spec.api_events if event.authorizer})


ROUTES = _routes()


def expected_scope(method: str, path: str) -> str:
    """What the contract says each route needs (written out here, independently of the code)."""
    if path == "/api-keys/current" and method == "GET":
        return "read"  # every key may read itself (the console's sign-in)
    if path.startswith("/api-keys"):
        return "admin"
    if method == "GET" or path == "/credit-applications/preview":
        return "read"
    return "write"


def _basic(key: str) -> str:
    return "Basic " + base64.b64encode(f"{key}:".encode()).decode()


@pytest.fixture(scope="module")
def keys(stack) -> dict[str, tuple[str, str]]:
    """scope -> (key id, key) of acct_a, made through POST /api-keys with the admin key key_a."""
    import requests

    made = {}
    for scope in ("read", "write", "admin"):
        response = requests.post(f"{stack.api_url}/api-keys", headers={"Authorization": "Bearer key_a"},
                                 json={"name": f"{scope} key {uuid.uuid4().hex[:6]}", "scope": scope}, timeout=30)
        assert response.status_code == 201, response.text
        body = response.json()
        assert body["scope"] == scope and body["key"].startswith("sk_") and body["lastUsedAt"] is None
        made[scope] = (body["id"], body["key"])
    return made


@pytest.fixture(scope="module")
def resources(stack, keys) -> dict[str, str]:
    """Real ids for every path parameter, so that reads answer 200."""
    import requests

    def call(method: str, path: str, **kwargs: Any) -> Any:
        response = requests.request(method, stack.api_url + path, headers={"Authorization": "Bearer key_a"},
                                    timeout=30, **kwargs)
        assert response.status_code in (200, 201), response.text
        return response.json()

    customer = new_customer()
    grant = call("POST", "/credit-grants", json=cash(customer, "100.00"))
    invoice = new_invoice()
    call("POST", "/credit-applications", json={"invoiceId": invoice, "customerId": customer, "currency": "USD",
                                               "lines": [{"lineId": "l1", "amount": "10.00"}]})
    schedule = call("POST", "/credit-grant-schedules", json={"customerId": customer, "interval": "MONTH", "grant": {
        "name": "Monthly", "type": "CASH", "amount": "5.00", "currency": "USD"}})
    rate = call("POST", "/tax-rates", json={"name": "VAT", "percentage": "20"})
    txn = call("GET", "/v1/billing/credit_balance_transactions", params={"customer": customer})["data"][0]["id"]
    consumption = call("POST", "/credit-consumptions", json={"eventId": f"use_{customer}", "customerId": customer,
                                                             "currency": "USD", "amount": "1.00"})
    alert = call("POST", "/credit-balance-alerts", json={"customerId": customer, "type": "CASH", "currency": "USD",
                                                         "threshold": "5.00"})
    rule = call("POST", "/credit-top-up-rules", json={"customerId": customer, "type": "CASH", "currency": "USD",
                                                      "threshold": "5.00", "maxPerMonth": 1, "grant": {
                                                          "name": "Top-up", "type": "CASH", "amount": "10.00",
                                                          "currency": "USD", "category": "PROMOTIONAL"}})
    clock = call("POST", "/test-clocks", json={"name": "scopes", "frozenTime": "2027-01-01T00:00:00Z"})
    return {"grantId": grant["id"], "invoiceId": invoice, "scheduleId": schedule["id"], "taxRateId": rate["id"],
            "keyId": keys["read"][0], "customerId": customer, "id": grant["id"], "txn": txn,
            "eventId": consumption["eventId"], "metricId": "api_calls", "testClockId": clock["id"],
            "alert": alert["id"], "rule": rule["id"]}


# Query strings some reads need to answer 200 (a new read that needs one fails here until added).
def _read_params(path: str, ids: dict[str, str]) -> dict[str, str]:
    return {
        "/reports/credits": {"from": "2026-01-01T00:00:00Z", "to": "2026-02-01T00:00:00Z"},
        "/v1/billing/credit_balance_summary": {"customer": ids["customerId"], "filter[type]": "applicability_scope",
                                               "filter[applicability_scope][price_type]": "metered"},
        "/v1/billing/credit_balance_transactions": {"customer": ids["customerId"]},
    }.get(path, {})


def _fill(path: str, ids: dict[str, str], *, real: bool) -> str:
    if path == "/v1/billing/credit_balance_transactions/{id}":
        return path.replace("{id}", ids["txn"] if real else "cbtxn_missing")
    # `{id}` names a grant on /v1, an alert or a top-up rule on their own routes.
    for prefix, name in (("/credit-balance-alerts/", "alert"), ("/credit-top-up-rules/", "rule")):
        if path.startswith(prefix):
            return path.replace("{id}", ids[name] if real else f"missing_{name}")
    for name, value in ids.items():
        path = path.replace("{" + name + "}", value if real else f"missing_{name}")
    return path


@pytest.mark.parametrize(("method", "path"), ROUTES, ids=[f"{m} {p}" for m, p in ROUTES])
def test_every_route_answers_each_scope_as_the_contract_says(api, keys, resources, method, path):
    needed = expected_scope(method, path)
    is_stripe = path.startswith("/v1/")
    for scope, (_, key) in keys.items():
        allowed = ("read", "write", "admin").index(scope) >= ("read", "write", "admin").index(needed)
        if method == "GET":
            response = api(method, _fill(path, resources, real=True), key=key, params=_read_params(path, resources))
        else:  # writes on ids that do not exist (or empty bodies): nothing is changed, whatever the scope
            body = {"data": "x"} if is_stripe else {}
            response = api(method, _fill(path, resources, real=False), key=key,
                           **({"data": body} if is_stripe else {"json": body}))
        if allowed:
            assert response.status_code != 403, (scope, response.text)
            if method == "GET":
                assert response.status_code == 200, (scope, response.text)
        else:
            assert response.status_code == 403, (scope, response.status_code, response.text)
            error = response.json()["error"]
            if is_stripe:  # Stripe's envelope on /v1 (the stripe SDK raises PermissionError)
                assert error["type"] == "invalid_request_error" and error["message"]
            else:
                assert error["code"] == "forbidden" and needed in error["message"]
                assert isinstance(error["details"], list)


def test_the_scope_matrix_covers_reads_writes_and_key_management():
    scopes = {expected_scope(m, p) for m, p in ROUTES}
    assert scopes == {"read", "write", "admin"} and len(ROUTES) > 30


def test_keys_are_listed_and_read_without_the_key_itself(api, keys):
    key_id, secret = keys["write"]
    listed = api("GET", "/api-keys", params={"limit": 100})
    assert listed.status_code == 200, listed.text
    assert secret not in listed.text and all("key" not in item for item in listed.json()["items"])
    mine = api("GET", f"/api-keys/{key_id}")
    assert mine.status_code == 200 and mine.json()["scope"] == "write" and "key" not in mine.json()
    assert mine.json()["createdBy"]["type"] == "api_key"
    assert api("GET", "/api-keys/key_missing").status_code == 404
    me = api("GET", "/api-keys/current", key=keys["read"][1])
    assert me.status_code == 200 and me.json()["id"] == keys["read"][0] and me.json()["scope"] == "read"
    assert api("GET", f"/api-keys/{key_id}", key="key_b").status_code == 404  # another account's key
    bad = api("POST", "/api-keys", json={"name": "x", "scope": "superuser"})
    assert bad.status_code == 400 and bad.json()["error"]["details"][0]["field"] == "scope"


def test_a_revoked_key_answers_401_within_the_authorizer_cache_bound(api):
    made = api("POST", "/api-keys", json={"name": "to revoke", "scope": "write"})
    assert made.status_code == 201, made.text
    key_id, secret = made.json()["id"], made.json()["key"]
    assert api("GET", "/credit-grants", key=secret).status_code == 200
    assert api("GET", "/credit-grants", key=secret, headers={"Authorization": _basic(secret)}).status_code == 200
    revoked = api("POST", f"/api-keys/{key_id}/revoke")
    assert revoked.status_code == 200 and revoked.json()["revokedAt"] is not None
    assert revoked.json()["revokedBy"]["type"] == "api_key"
    again = api("POST", f"/api-keys/{key_id}/revoke")
    assert again.status_code == 200 and again.json()["revokedAt"] == revoked.json()["revokedAt"]
    deadline = time.monotonic() + AUTHORIZER_TTL_SECONDS + 10
    statuses: list[int] = []
    while time.monotonic() < deadline:
        statuses = [api("GET", "/credit-grants", key=secret).status_code,
                    api("GET", "/credit-grants", key=secret, headers={"Authorization": _basic(secret)}).status_code]
        if statuses == [401, 401]:
            break
        time.sleep(0.5)
    assert statuses == [401, 401]
    body = api("GET", "/credit-grants", key=secret).json()
    assert body["error"]["code"] == "unauthorized"
    assert api("GET", f"/api-keys/{key_id}").json()["lastUsedAt"] is not None


def test_the_last_admin_key_cannot_be_revoked(api):
    items = api("GET", "/api-keys", key="key_b", params={"limit": 100}).json()["items"]
    admins = [k for k in items if k["scope"] == "admin" and k["revokedAt"] is None]
    assert len(admins) == 1  # key_b, made by CREDITS_API_KEYS: an admin key
    refused = api("POST", f"/api-keys/{admins[0]['id']}/revoke", key="key_b")
    assert refused.status_code == 409 and "last admin" in refused.json()["error"]["message"]
    assert api("GET", "/credit-grants", key="key_b").status_code == 200


def test_basic_and_bearer_give_the_same_answers(api, resources):
    grant_id = resources["grantId"]
    for path, params in ((f"/credit-grants/{grant_id}", {}), ("/credit-grants", {"customerId": resources["customerId"]}),
                         (f"/v1/billing/credit_grants/{grant_id}", {}),
                         ("/v1/billing/credit_balance_transactions", {"customer": resources["customerId"]})):
        bearer = api("GET", path, params=params)
        basic = api("GET", path, key=None, params=params, headers={"Authorization": _basic("key_a")})
        assert bearer.status_code == basic.status_code == 200
        assert bearer.json() == basic.json()
    made = api("POST", "/credit-grants", key=None, headers={"Authorization": _basic("key_a")},
               json=cash(resources["customerId"], "1.00"))
    assert made.status_code == 201, made.text


@pytest.mark.parametrize("header", [
    "Basic", "Basic ", "Basic !!!", "Basic " + base64.b64encode(b"key_a:wrong").decode(),
    "Basic " + base64.b64encode(b"\xff\xfe").decode(), "Basic " + base64.b64encode(b":").decode(),
    "Basic " + base64.b64encode(b"nobody:").decode(), "Basic a2V5X2E", "Bearer", "Digest abc", "key_a",
])
def test_a_malformed_or_unknown_credential_is_401_never_500(api, header):
    for path in ("/credit-grants", "/v1/billing/credit_grants"):
        response = api("GET", path, key=None, headers={"Authorization": header})
        assert response.status_code == 401, (header, response.status_code, response.text)


def test_actor_names_in_history_and_events(api, keys, webhook_receiver):
    grantor = api("POST", "/api-keys", json={"name": "Alice (billing)", "scope": "write"}).json()
    voider = api("POST", "/api-keys", json={"name": "Bob (support)", "scope": "write"}).json()
    customer = new_customer()
    grant = create(api, cash(customer, "30.00", reason="goodwill"), key=grantor["key"])
    voided = api("POST", f"/credit-grants/{grant['id']}/void", key=voider["key"], json={"reason": "mistake"})
    assert voided.status_code == 200, voided.text
    history = api("GET", f"/customers/{customer}/credit-transactions").json()["items"]
    actors = {entry["type"]: entry["actor"] for entry in history}
    assert actors["GRANTED"] == {"type": "api_key", "id": grantor["id"], "name": "Alice (billing)"}
    assert actors["VOIDED"] == {"type": "api_key", "id": voider["id"], "name": "Bob (support)"}

    def of(kind: str):
        return lambda e: e.get("detail-type") == kind and e["detail"].get("grantId") == grant["id"]

    granted = webhook_receiver.wait_for(of("account.credits.granted"), timeout=15)
    void_event = webhook_receiver.wait_for(of("account.credits.voided"), timeout=15)
    assert granted["detail"]["actor"]["name"] == "Alice (billing)"
    assert void_event["detail"]["actor"]["name"] == "Bob (support)"


def _lambda(stack):
    import boto3
    from botocore.config import Config

    return boto3.client("lambda", endpoint_url=stack.lambda_url, region_name="us-east-1", aws_access_key_id="x",
                        aws_secret_access_key="x", config=Config(retries={"max_attempts": 1}, read_timeout=300))


def test_an_expiry_names_the_system_job_and_a_command_its_source_and_event_id(stack, api, webhook_receiver):
    import json
    from datetime import UTC, datetime, timedelta

    customer = new_customer()
    create(api, cash(customer, "1.00"))  # GrantFunction warm, so the grant is made well before its expiry
    expires = (datetime.now(UTC) + timedelta(seconds=6)).replace(microsecond=0)
    grant = create(api, cash(customer, "5.00", expiresAt=expires.strftime("%Y-%m-%dT%H:%M:%SZ")))
    time.sleep(max(0.0, (expires - datetime.now(UTC)).total_seconds()) + 1.1)
    result = _lambda(stack).invoke(FunctionName="ExpiryFunction", Payload=b"{}")
    assert "FunctionError" not in result, result["Payload"].read()
    history = api("GET", f"/customers/{customer}/credit-transactions").json()["items"]
    assert [e["actor"] for e in history if e["type"] == "EXPIRED"] == [{"type": "system", "job": "expiry"}]
    expired = webhook_receiver.wait_for(lambda e: e.get("detail-type") == "account.credits.expired"
                                        and e["detail"].get("grantId") == grant["id"], timeout=60)
    assert expired["detail"]["actor"] == {"type": "system", "job": "expiry"}

    commanded = new_customer()
    command_id = str(uuid.uuid4())
    made = _lambda(stack).invoke(FunctionName="GrantFunction", Payload=json.dumps({
        "version": "0", "id": command_id, "detail-type": "Grant Credits", "source": "billing.system",
        "account": "123456789012", "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), "region": "us-east-1",
        "resources": [], "detail": {"accountId": "acct_a", "grant": cash(commanded, "7.00")}}).encode())
    grant_id = json.loads(made["Payload"].read())["id"]
    history = api("GET", f"/customers/{commanded}/credit-transactions").json()["items"]
    assert history[0]["actor"] == {"type": "command", "source": "billing.system", "eventId": command_id}
    granted = webhook_receiver.wait_for(lambda e: e.get("detail-type") == "account.credits.granted"
                                        and e["detail"].get("grantId") == grant_id, timeout=60)
    assert granted["detail"]["actor"]["eventId"] == command_id


# ---------------------------------------------------------------- the audit trail


def _audit_page_all(api, key: str, **params: Any) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []
    query = {"limit": 7, **params}
    for _ in range(500):
        response = api("GET", "/audit-events", key=key, params=query)
        assert response.status_code == 200, response.text
        body = response.json()
        seen += body["items"]
        if body["pagination"]["after"] is None:
            return seen
        query["after"] = body["pagination"]["after"]
    raise AssertionError("paging did not end")


def test_audit_events_page_through_every_change_once_newest_first_across_writers(stack, api):
    import requests

    """Many writers at once (grants and voids with two keys, a schedule, a key): the trail lists
    every change exactly once, newest first, with its actor; filters by resource and actor."""
    from concurrent.futures import ThreadPoolExecutor
    from datetime import UTC, datetime

    since = {"from": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}  # acct_b's writes of this test only
    made = api("POST", "/api-keys", key="key_b", json={"name": "auditor", "scope": "write"}).json()
    writer = made["key"]
    customer = new_customer()

    def call(path: str, key: str, body: dict[str, Any]) -> dict[str, Any]:
        response = requests.post(stack.api_url + path, headers={"Authorization": f"Bearer {key}"}, json=body,
                                 timeout=120)  # each writer its own connection; a loaded machine is slow
        assert response.status_code in (200, 201), response.text
        return response.json()

    def grant_and_void(i: int) -> str:
        grant = call("/credit-grants", "key_b" if i % 2 else writer, cash(customer, f"{i + 1}.00", reason=f"r{i}"))
        if i % 3 == 0:
            call(f"/credit-grants/{grant['id']}/void", writer, {"reason": "audit"})
        return grant["id"]

    with ThreadPoolExecutor(3) as pool:
        grant_ids = list(pool.map(grant_and_void, range(12)))
    expected = 12 + 4 + 1  # GRANTED each, VOIDED every third, the key made
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        listed = _audit_page_all(api, "key_b", **since)
        if len(listed) >= expected:
            break
        time.sleep(0.5)
    ids = [e["id"] for e in listed]
    assert len(ids) == len(set(ids)) == expected  # exactly these, once each
    times = [e["occurredAt"] for e in listed]
    assert times == sorted(times, reverse=True)
    assert {e["action"] for e in listed} == {"credit_grant.granted", "credit_grant.voided", "api_key.created"}
    assert {e["resource"]["id"] for e in listed if e["resource"]["type"] == "credit_grant"} == set(grant_ids)
    voids = [e for e in listed if e["action"] == "credit_grant.voided"]
    assert all(e["actor"] == {"type": "api_key", "id": made["id"], "name": "auditor"} and e["reason"] == "audit"
               for e in voids)
    everything = api("GET", "/audit-events", key="key_b", params={"limit": 1}).json()["pagination"]
    assert everything["totalResultSize"] >= expected + 1  # and key_b's own creation (CREDITS_API_KEYS)

    by_actor = _audit_page_all(api, "key_b", actorId=made["id"], **since)
    assert len(by_actor) == 4 + 6 and all(e["actor"]["id"] == made["id"] for e in by_actor)
    one = grant_ids[0]
    history = _audit_page_all(api, "key_b", resourceId=one)
    assert [e["action"] for e in history] == ["credit_grant.voided", "credit_grant.granted"]
    assert api("GET", "/audit-events", key="key_b", params={"resourceId": one}).json()["pagination"][
        "totalResultSize"] == 2
    assert _audit_page_all(api, "key_a", resourceId=one) == []  # another account sees nothing of it
    window = _audit_page_all(api, "key_b", **{"from": times[-1], "to": "2999-01-01T00:00:00Z"})
    assert len(window) == expected
    bad = api("GET", "/audit-events", key="key_b", params={"after": "nonsense"})
    assert bad.status_code == 400
