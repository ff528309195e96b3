"""The /v1 routers on DynamoDB Local: create, retrieve, list, update, void, expire, balances, ledger,
and errors in Stripe's envelope. Called through credits.api.resolver.http_entry with API Gateway events."""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import urlencode

import pytest

BASE = {
    "customer": "cus_1",
    "amount[type]": "monetary",
    "amount[monetary][currency]": "usd",
    "amount[monetary][value]": "1000",
    "applicability_config[scope][price_type]": "metered",
}


@pytest.fixture
def app(table: Any) -> Any:
    """The three routers on a resolver, over the integration tier's fresh DynamoDB Local table."""
    from credits.api import resolver as api
    from credits.api.stripe.routes import grant_router, list_router, void_router

    resolver = api.make_resolver()
    for router in (grant_router, list_router, void_router):
        resolver.include_router(router)
    return resolver


class Client:
    def __init__(self, app: Any, account: str | None = "acct_a"):
        self.app, self.account = app, account

    def call(self, method: str, path: str, params: dict[str, str] | None = None, *,
             body: str | None = None, headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
        from credits.api.resolver import http_entry

        query = None
        if method == "GET" and params:
            query = {k: [v] for k, v in params.items()}
        elif params is not None:
            body = urlencode(params)
        event = {
            "httpMethod": method, "path": path, "resource": path, "body": body, "isBase64Encoded": False,
            "headers": {"Content-Type": "application/x-www-form-urlencoded", **(headers or {})},
            "multiValueHeaders": {}, "pathParameters": None,
            "queryStringParameters": {k: v[-1] for k, v in query.items()} if query else None,
            "multiValueQueryStringParameters": query,
            "requestContext": {"requestId": "r1", "stage": "test", "httpMethod": method, "path": path,
                               "resourcePath": path,
                               "authorizer": {"accountId": self.account} if self.account else {}},
        }
        result = http_entry(self.app, event, None)
        return result["statusCode"], json.loads(result["body"])

    def create(self, **extra: str) -> dict[str, Any]:
        status, body = self.call("POST", "/v1/billing/credit_grants", {**BASE, **extra})
        assert status == 200, body
        return body


@pytest.fixture
def client(app: Any) -> Client:
    return Client(app)


def assert_stripe_error(status: int, body: dict[str, Any], expected_status: int, param: str | None = None,
                        code: str | None = None) -> None:
    assert status == expected_status, body
    error = body["error"]
    assert error["type"] == "invalid_request_error" and error["message"]
    if param is not None:
        assert error["param"] == param
    if code is not None:
        assert error["code"] == code


# ------------------------------------------------------------------ create / retrieve


def test_create_answers_200_with_a_credit_grant(client: Client):
    now = int(time.time())
    grant = client.create(name="Purchased Credits", category="promotional", priority="5",
                          expires_at=str(now + 3600), **{"metadata[k]": "v"})
    assert grant["object"] == "billing.credit_grant" and grant["id"].startswith("cg_")
    assert grant["amount"] == {"monetary": {"currency": "usd", "value": 1000}, "type": "monetary"}
    assert grant["category"] == "promotional" and grant["priority"] == 5 and grant["metadata"] == {"k": "v"}
    assert grant["expires_at"] == now + 3600 and abs(grant["created"] - now) <= 2
    assert grant["livemode"] is False and grant["test_clock"] is None and grant["voided_at"] is None
    status, fetched = client.call("GET", f"/v1/billing/credit_grants/{grant['id']}")
    assert status == 200 and fetched == grant


def test_a_v1_grant_is_a_cash_grant_of_the_json_api(client: Client):
    from credits.container import repository

    grant = client.create(**{"amount[monetary][currency]": "jpy", "amount[monetary][value]": "500"})
    record = repository().get_grant("acct_a", grant["id"])
    assert record.type == "CASH" and record.currency == "JPY" and str(record.original_amount) == "500"


def test_create_errors_name_the_param(client: Client):
    params = dict(BASE)
    del params["amount[monetary][value]"]
    status, body = client.call("POST", "/v1/billing/credit_grants", params)
    assert_stripe_error(status, body, 400, "amount[monetary][value]")
    status, body = client.call("POST", "/v1/billing/credit_grants", {**BASE, "expires_at": "1000"})
    assert_stripe_error(status, body, 400, "expires_at")
    status, body = client.call("POST", "/v1/billing/credit_grants", body="a[b]=1&a=2")
    assert_stripe_error(status, body, 400, "a")


def test_unknown_and_usage_grants_are_resource_missing(client: Client):
    from credits.container import grant_service
    from credits.models.api import CreateGrantRequest

    usage = grant_service().create("acct_a", CreateGrantRequest(customerId="cus_1", name="u", type="USAGE",
                                                                amount="10", metricId="api"))
    for grant_id in ("cg_nope", usage.id):
        status, body = client.call("GET", f"/v1/billing/credit_grants/{grant_id}")
        assert_stripe_error(status, body, 404, "id", "resource_missing")
        status, body = client.call("POST", f"/v1/billing/credit_grants/{grant_id}/void", {})
        assert_stripe_error(status, body, 404, "id", "resource_missing")


def test_other_accounts_grants_are_missing(app: Any, client: Client):
    grant = client.create()
    status, body = Client(app, "acct_b").call("GET", f"/v1/billing/credit_grants/{grant['id']}")
    assert_stripe_error(status, body, 404, code="resource_missing")


def test_missing_account_is_401(app: Any):
    status, body = Client(app, None).call("GET", "/v1/billing/credit_grants")
    assert status == 401 and body["error"]["type"] == "invalid_request_error"


# ------------------------------------------------------------------ list


def test_list_newest_first_with_cursors(client: Client):
    ids = [client.create()["id"] for _ in range(7)]
    client.create(customer="cus_2")
    newest_first = list(reversed(ids))
    status, page = client.call("GET", "/v1/billing/credit_grants", {"customer": "cus_1", "limit": "3"})
    assert status == 200 and page["object"] == "list" and page["url"] == "/v1/billing/credit_grants"
    assert [g["id"] for g in page["data"]] == newest_first[:3] and page["has_more"] is True
    seen, after = [], None
    while True:
        params = {"customer": "cus_1", "limit": "3", **({"starting_after": after} if after else {})}
        _, page = client.call("GET", "/v1/billing/credit_grants", params)
        seen += [g["id"] for g in page["data"]]
        if not page["has_more"]:
            break
        after = page["data"][-1]["id"]
    assert seen == newest_first
    _, page = client.call("GET", "/v1/billing/credit_grants",
                          {"customer": "cus_1", "limit": "2", "ending_before": newest_first[4]})
    assert [g["id"] for g in page["data"]] == newest_first[2:4] and page["has_more"] is True
    _, page = client.call("GET", "/v1/billing/credit_grants", {"limit": "100"})
    assert len(page["data"]) == 8 and page["has_more"] is False  # account-wide (GSI1)
    _, page = client.call("GET", "/v1/billing/credit_grants", {"limit": "2", "starting_after": newest_first[1]})
    assert [g["id"] for g in page["data"]] == newest_first[2:4]


def test_list_param_errors(client: Client):
    for params, param in (({"limit": "0"}, "limit"), ({"limit": "101"}, "limit"), ({"colour": "red"}, "colour")):
        status, body = client.call("GET", "/v1/billing/credit_grants", params)
        assert_stripe_error(status, body, 400, param)


# ------------------------------------------------------------------ update / void / expire


def test_update_expiry_and_metadata(client: Client):
    grant = client.create(**{"metadata[a]": "1", "metadata[b]": "2"})
    later = int(time.time()) + 7200
    status, updated = client.call("POST", f"/v1/billing/credit_grants/{grant['id']}",
                                  {"expires_at": str(later), "metadata[b]": "", "metadata[c]": "3"})
    assert status == 200, updated
    assert updated["expires_at"] == later and updated["metadata"] == {"a": "1", "c": "3"}
    status, updated = client.call("POST", f"/v1/billing/credit_grants/{grant['id']}", {"expires_at": ""})
    assert status == 200 and updated["expires_at"] is None and updated["metadata"] == {"a": "1", "c": "3"}
    status, body = client.call("POST", f"/v1/billing/credit_grants/{grant['id']}", {"name": "x"})
    assert_stripe_error(status, body, 400, "name")
    status, body = client.call("POST", f"/v1/billing/credit_grants/{grant['id']}", {"expires_at": "1000"})
    assert_stripe_error(status, body, 400, "expires_at")


def test_void_then_expire_is_refused(client: Client):
    grant = client.create()
    status, voided = client.call("POST", f"/v1/billing/credit_grants/{grant['id']}/void", {})
    assert status == 200 and voided["voided_at"] is not None
    status, again = client.call("POST", f"/v1/billing/credit_grants/{grant['id']}/void", {})
    assert status == 200 and again == voided
    status, body = client.call("POST", f"/v1/billing/credit_grants/{grant['id']}/expire", {})
    assert_stripe_error(status, body, 400)
    from credits.container import repository

    assert repository().get_grant("acct_a", grant["id"]).void_reason == "voided via API"


def test_expire_sets_expires_at_to_now(client: Client):
    grant = client.create()
    status, expired = client.call("POST", f"/v1/billing/credit_grants/{grant['id']}/expire", {})
    assert status == 200 and abs(expired["expires_at"] - int(time.time())) <= 2
    _, summary = client.call("GET", "/v1/billing/credit_balance_summary", {"customer": "cus_1"})
    assert summary["balances"] == []  # an expired grant (EXPIRED entry written) counts nowhere
    status, again = client.call("GET", f"/v1/billing/credit_grants/{grant['id']}")
    assert again == expired


# ------------------------------------------------------------------ balances and transactions


def test_balance_summary(client: Client):
    a = client.create()
    scoped = {k: v for k, v in BASE.items() if not k.startswith("applicability_config")}
    status, _ = client.call("POST", "/v1/billing/credit_grants",
                            {**scoped, "amount[monetary][value]": "250",
                             "applicability_config[scope][prices][0][id]": "p1"})
    assert status == 200
    client.create(**{"amount[monetary][currency]": "eur", "amount[monetary][value]": "99"})

    def balances(params):
        status, body = client.call("GET", "/v1/billing/credit_balance_summary", {"customer": "cus_1", **params})
        assert status == 200, body
        assert body["object"] == "billing.credit_balance_summary" and body["customer"] == "cus_1"
        return {b["available_balance"]["monetary"]["currency"]: b["available_balance"]["monetary"]["value"]
                for b in body["balances"]}

    assert balances({}) == {"eur": 99, "usd": 1250}
    assert balances({"filter[type]": "applicability_scope",
                     "filter[applicability_scope][price_type]": "metered"}) == {"eur": 99, "usd": 1250}
    assert balances({"filter[type]": "applicability_scope",
                     "filter[applicability_scope][prices][0][id]": "p2"}) == {"eur": 99, "usd": 1000}
    assert balances({"filter[type]": "credit_grant", "filter[credit_grant]": a["id"]}) == {"usd": 1000}
    status, body = client.call("GET", "/v1/billing/credit_balance_summary",
                               {"customer": "cus_1", "filter[type]": "credit_grant", "filter[credit_grant]": "cg_x"})
    assert_stripe_error(status, body, 404, "filter[credit_grant]", "resource_missing")
    status, body = client.call("GET", "/v1/billing/credit_balance_summary", {})
    assert_stripe_error(status, body, 400, "customer")


def test_balance_transactions_after_grant_and_void(client: Client):
    grant = client.create()
    other = client.create(**{"amount[monetary][value]": "5"})
    client.call("POST", f"/v1/billing/credit_grants/{grant['id']}/void", {})
    status, page = client.call("GET", "/v1/billing/credit_balance_transactions", {"customer": "cus_1"})
    assert status == 200 and page["url"] == "/v1/billing/credit_balance_transactions"
    kinds = [(t["credit_grant"], t["type"], (t["credit"] or t["debit"])["type"]) for t in page["data"]]
    assert kinds == [(grant["id"], "debit", "credits_voided"), (other["id"], "credit", "credits_granted"),
                     (grant["id"], "credit", "credits_granted")]
    voided = page["data"][0]
    assert voided["debit"]["amount"] == {"monetary": {"currency": "usd", "value": 1000}, "type": "monetary"}
    assert voided["debit"]["credits_applied"] is None and voided["credit"] is None
    _, only = client.call("GET", "/v1/billing/credit_balance_transactions",
                          {"customer": "cus_1", "credit_grant": grant["id"], "limit": "1"})
    assert [t["id"] for t in only["data"]] == [voided["id"]] and only["has_more"] is True
    _, rest = client.call("GET", "/v1/billing/credit_balance_transactions",
                          {"customer": "cus_1", "credit_grant": grant["id"], "starting_after": voided["id"]})
    assert [t["id"] for t in rest["data"]] == [page["data"][2]["id"]] and rest["has_more"] is False
    _, back = client.call("GET", "/v1/billing/credit_balance_transactions",
                          {"customer": "cus_1", "ending_before": page["data"][2]["id"]})
    assert [t["id"] for t in back["data"]] == [t["id"] for t in page["data"][:2]]
    status, one = client.call("GET", f"/v1/billing/credit_balance_transactions/{voided['id']}")
    assert status == 200 and one == voided


def test_balance_transaction_errors(client: Client):
    status, body = client.call("GET", "/v1/billing/credit_balance_transactions", {})
    assert_stripe_error(status, body, 400, "customer")
    status, body = client.call("GET", "/v1/billing/credit_balance_transactions/cbtxn_nope")
    assert_stripe_error(status, body, 404, "id", "resource_missing")
    status, body = client.call("GET", "/v1/billing/credit_balance_transactions",
                               {"customer": "cus_1", "credit_grant": "cg_nope"})
    assert_stripe_error(status, body, 404, "credit_grant", "resource_missing")


def test_unknown_v1_route_is_a_stripe_404(client: Client):
    status, body = client.call("GET", "/v1/billing/nothing")
    assert status == 404 and body["error"]["type"] == "invalid_request_error"


def test_query_string_with_repeated_key_is_a_400(client: Client):
    status, body = client.call("GET", "/v1/billing/credit_grants", None)
    assert status == 200
    from credits.api.resolver import http_entry

    event = {"httpMethod": "GET", "path": "/v1/billing/credit_grants", "resource": "/v1/billing/credit_grants",
             "body": None, "headers": {}, "multiValueHeaders": {}, "queryStringParameters": {"limit": "2"},
             "multiValueQueryStringParameters": {"limit": ["1", "2"]}, "pathParameters": None,
             "isBase64Encoded": False, "requestContext": {"requestId": "r", "authorizer": {"accountId": "acct_a"}}}
    result = http_entry(client.app, event, None)
    assert result["statusCode"] == 400 and json.loads(result["body"])["error"]["param"] == "limit"
