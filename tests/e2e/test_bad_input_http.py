"""End-to-end HTTP tests: bad bodies for POST /credit-grants (and a few for the other write
routes) must each be answered 400 with the contract's error body, naming the field, and must
create nothing."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.e2e.helpers import iso, new_customer, new_invoice

NOW = datetime.now(UTC)
TODAY = NOW.date()
YESTERDAY = (TODAY - timedelta(days=1)).isoformat()
IN_10_DAYS = (TODAY + timedelta(days=10)).isoformat()
IN_20_DAYS = (TODAY + timedelta(days=20)).isoformat()


def assert_validation_error(response: Any, fields: tuple[str, ...] | None) -> dict[str, Any]:
    assert response.status_code == 400, (response.status_code, response.text)
    assert response.headers.get("Content-Type", "").startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == {"code", "message", "details"}, body
    assert error["code"] == "validation_error", body
    assert isinstance(error["message"], str) and error["message"], body
    assert isinstance(error["details"], list), body
    if fields:
        text = (error["message"] + " " + json.dumps(error["details"])).lower()
        assert any(f.lower() in error["message"].lower() for f in fields), (
            f"the message should name one of {fields}: {error['message']!r}"
        )
        assert any(f.lower() in text for f in fields)
    return error


# Each case: (id, body overrides on a valid CASH body or a full replacement, fields that the
# message must name). A value of DROP removes the key.
DROP = object()


def cash_body(customer: str) -> dict[str, Any]:
    return {"customerId": customer, "name": "Credits", "type": "CASH", "amount": "10.00", "currency": "USD"}


def usage_body(customer: str) -> dict[str, Any]:
    return {"customerId": customer, "name": "Units", "type": "USAGE", "amount": "1000", "metricId": "api_calls"}


CASES: list[tuple[str, str, dict[str, Any], tuple[str, ...]]] = [
    ("amount-json-int", "cash", {"amount": 10}, ("amount",)),
    ("amount-json-float", "cash", {"amount": 10.5}, ("amount",)),
    ("amount-exponent", "cash", {"amount": "1e3"}, ("amount",)),
    ("amount-negative", "cash", {"amount": "-5"}, ("amount",)),
    ("amount-plus-sign", "cash", {"amount": "+5"}, ("amount",)),
    ("amount-leading-space", "cash", {"amount": " 5"}, ("amount",)),
    ("amount-trailing-space", "cash", {"amount": "5 "}, ("amount",)),
    ("amount-nan", "cash", {"amount": "NaN"}, ("amount",)),
    ("amount-infinity", "cash", {"amount": "Infinity"}, ("amount",)),
    ("amount-trailing-point", "cash", {"amount": "5."}, ("amount",)),
    ("amount-leading-point", "cash", {"amount": ".5"}, ("amount",)),
    ("amount-comma", "cash", {"amount": "1,000"}, ("amount",)),
    ("amount-null", "cash", {"amount": None}, ("amount",)),
    ("amount-bool", "cash", {"amount": True}, ("amount",)),
    ("amount-empty", "cash", {"amount": ""}, ("amount",)),
    ("amount-unicode-digits", "cash", {"amount": "\u0665"}, ("amount",)),
    ("amount-too-many-decimals-usd", "cash", {"amount": "10.001"}, ("amount",)),
    ("amount-decimals-jpy", "cash", {"amount": "100.5", "currency": "JPY"}, ("amount",)),
    ("amount-zero-decimals-jpy", "cash", {"amount": "100.0", "currency": "JPY"}, ("amount",)),
    ("amount-zero", "cash", {"amount": "0"}, ("amount",)),
    ("amount-zero-point-zero", "cash", {"amount": "0.00"}, ("amount",)),
    ("amount-over-1e12", "cash", {"amount": "1000000000000.01"}, ("amount",)),
    ("amount-way-over-1e12", "cash", {"amount": "1000000000001"}, ("amount",)),
    ("amount-huge-digits", "cash", {"amount": "9" * 400}, ("amount",)),
    ("usage-amount-7-decimals", "usage", {"amount": "1.0000001"}, ("amount",)),
    ("currency-unknown", "cash", {"currency": "XYZ"}, ("currency",)),
    ("currency-number", "cash", {"currency": 840}, ("currency",)),
    ("currency-missing-for-cash", "cash", {"currency": DROP}, ("currency",)),
    ("unknown-field", "cash", {"colour": "blue"}, ("colour",)),
    ("unknown-field-amounts", "cash", {"amounts": "10.00"}, ("amounts",)),
    ("customer-missing", "cash", {"customerId": DROP}, ("customerId",)),
    ("customer-number", "cash", {"customerId": 12}, ("customerId",)),
    ("customer-empty", "cash", {"customerId": ""}, ("customerId",)),
    ("name-missing", "cash", {"name": DROP}, ("name",)),
    ("name-too-long", "cash", {"name": "n" * 101}, ("name",)),
    ("name-empty", "cash", {"name": ""}, ("name",)),
    ("name-number", "cash", {"name": 5}, ("name",)),
    ("type-missing", "cash", {"type": DROP}, ("type",)),
    ("type-unknown", "cash", {"type": "MONEY"}, ("type",)),
    ("type-lowercase", "cash", {"type": "cash"}, ("type",)),
    ("category-unknown", "cash", {"category": "FREE"}, ("category",)),
    ("priority-101", "cash", {"priority": 101}, ("priority",)),
    ("priority-negative", "cash", {"priority": -1}, ("priority",)),
    ("priority-string", "cash", {"priority": "5"}, ("priority",)),
    ("priority-float", "cash", {"priority": 5.5}, ("priority",)),
    ("priority-bool", "cash", {"priority": True}, ("priority",)),
    ("priority-null", "cash", {"priority": None}, ("priority",)),
    ("expiry-date-in-past", "cash", {"expiryDate": YESTERDAY}, ("expiryDate",)),
    ("expires-at-in-past", "cash", {"expiresAt": iso(NOW - timedelta(minutes=5))}, ("expiresAt",)),
    ("expiry-before-effective", "cash", {"effectiveDate": IN_20_DAYS, "expiryDate": IN_10_DAYS}, ("expiryDate", "expiresAt")),
    ("expires-at-equals-effective", "cash", {"effectiveAt": f"{IN_10_DAYS}T00:00:00Z", "expiresAt": f"{IN_10_DAYS}T00:00:00Z"}, ("expiresAt", "expiryDate")),
    ("expiry-both-forms", "cash", {"expiryDate": IN_20_DAYS, "expiresAt": f"{IN_20_DAYS}T00:00:00Z"}, ("expiryDate", "expiresAt")),
    ("effective-both-forms", "cash", {"effectiveDate": IN_10_DAYS, "effectiveAt": f"{IN_10_DAYS}T00:00:00Z"}, ("effectiveDate", "effectiveAt")),
    ("effective-date-feb-30", "cash", {"effectiveDate": "2026-02-30"}, ("effectiveDate",)),
    ("expiry-date-feb-30", "cash", {"expiryDate": "2030-02-30"}, ("expiryDate",)),
    ("expiry-date-with-time", "cash", {"expiryDate": "2030-01-01T00:00:00Z"}, ("expiryDate",)),
    ("expiry-date-slashes", "cash", {"expiryDate": "2030/01/01"}, ("expiryDate",)),
    ("expires-at-without-z", "cash", {"expiresAt": "2030-01-01T00:00:00"}, ("expiresAt",)),
    ("expires-at-date-only", "cash", {"expiresAt": "2030-01-01"}, ("expiresAt",)),
    ("expires-at-number", "cash", {"expiresAt": 1893456000}, ("expiresAt",)),
    ("effective-at-without-z", "cash", {"effectiveAt": "2026-01-01T00:00:00"}, ("effectiveAt",)),
    ("expires-at-bad-month", "cash", {"expiresAt": "2030-13-01T00:00:00Z"}, ("expiresAt",)),
    ("effective-at-year-1", "cash", {"effectiveAt": "0001-01-01T00:00:00Z"}, ("effectiveAt",)),
    ("effective-date-year-999", "cash", {"effectiveDate": "0999-01-01"}, ("effectiveDate",)),
    ("expiry-date-last-day-of-calendar", "cash", {"expiryDate": "9999-12-31"}, ("expiryDate",)),
    ("expires-at-year-9999", "cash", {"expiresAt": "9999-06-01T00:00:00Z"}, ("expiresAt",)),
    ("metric-on-cash", "cash", {"metricId": "api_calls"}, ("metricId",)),
    ("price-per-unit-on-cash", "cash", {"pricePerUnit": "0.01"}, ("pricePerUnit",)),
    ("usage-without-metric", "usage", {"metricId": DROP}, ("metricId",)),
    ("usage-metric-empty", "usage", {"metricId": ""}, ("metricId",)),
    ("usage-cost-without-currency", "usage", {"costOfCredit": "10.00"}, ("currency",)),
    ("usage-cost-and-price-disagree", "usage", {"currency": "USD", "costOfCredit": "10.00", "pricePerUnit": "0.02"}, ("costOfCredit", "pricePerUnit")),
    ("usage-price-13-decimals", "usage", {"currency": "USD", "pricePerUnit": "0.0000000000001"}, ("pricePerUnit",)),
    ("usage-cost-too-many-decimals", "usage", {"currency": "USD", "costOfCredit": "10.001"}, ("costOfCredit",)),
    ("usage-with-applicability", "usage", {"applicability": {"metricIds": ["api_calls"]}}, ("applicability",)),
    ("promotional-with-cost", "cash", {"category": "PROMOTIONAL", "costOfCredit": "5.00"}, ("costOfCredit",)),
    ("cost-negative", "cash", {"costOfCredit": "-1.00"}, ("costOfCredit",)),
    ("cost-number", "cash", {"costOfCredit": 10}, ("costOfCredit",)),
    ("metadata-51-keys", "cash", {"metadata": {f"k{i}": "v" for i in range(51)}}, ("metadata",)),
    ("metadata-non-string-value", "cash", {"metadata": {"count": 3}}, ("metadata",)),
    ("metadata-null-value", "cash", {"metadata": {"k": None}}, ("metadata",)),
    ("metadata-nested", "cash", {"metadata": {"k": {"a": "b"}}}, ("metadata",)),
    ("metadata-key-41-chars", "cash", {"metadata": {"k" * 41: "v"}}, ("metadata",)),
    ("metadata-value-501-chars", "cash", {"metadata": {"k": "v" * 501}}, ("metadata",)),
    ("metadata-list", "cash", {"metadata": ["a"]}, ("metadata",)),
    ("reason-501-chars", "cash", {"reason": "r" * 501}, ("reason",)),
    ("tax-rate-number", "cash", {"taxRateId": 7}, ("taxRateId",)),
    ("generate-invoice-string", "cash", {"generateInvoice": "yes"}, ("generateInvoice",)),
    ("applicability-string", "cash", {"applicability": "api_calls"}, ("applicability",)),
    ("applicability-metric-ids-string", "cash", {"applicability": {"metricIds": "api_calls"}}, ("applicability", "metricIds")),
    ("applicability-unknown-key", "cash", {"applicability": {"prices": ["p1"]}}, ("applicability", "prices")),
]


@pytest.mark.parametrize(("case_id", "kind", "overrides", "fields"), CASES, ids=[c[0] for c in CASES])
def test_bad_grant_body_is_400_and_creates_nothing(
    api: Any, case_id: str, kind: str, overrides: dict[str, Any], fields: tuple[str, ...]
) -> None:
    customer = new_customer()
    body = cash_body(customer) if kind == "cash" else usage_body(customer)
    for key, value in overrides.items():
        if value is DROP:
            body.pop(key, None)
        else:
            body[key] = value
    response = api("POST", "/credit-grants", json=body)
    assert_validation_error(response, fields)
    listed = api("GET", "/credit-grants", params={"customerId": customer})
    assert listed.status_code == 200
    assert listed.json()["pagination"]["totalResultSize"] == 0
    assert listed.json()["items"] == []


RAW_BODIES = [
    ("malformed-json", '{"customerId": "x", "name": '),
    ("trailing-comma", '{"customerId": "x",}'),
    ("json-array", '[{"customerId": "x"}]'),
    ("json-string", '"hello"'),
    ("json-number", "42"),
    ("json-null", "null"),
    ("empty-body", ""),
    ("not-json", "customerId=x&name=y"),
    ("nan-literal", '{"customerId": "x", "name": "n", "type": "CASH", "amount": NaN, "currency": "USD"}'),
    ("duplicate-keys-bad-amount", '{"customerId": "x", "name": "n", "type": "CASH", "amount": "1.00", "currency": "USD", "amount": 5}'),
    ("invalid-utf8", b'{"customerId": "\xff\xfe", "name": "n", "type": "CASH", "amount": "1.00", "currency": "USD"}'),
]


@pytest.mark.parametrize(("case_id", "raw"), RAW_BODIES, ids=[c[0] for c in RAW_BODIES])
def test_unparseable_body_is_400(api: Any, case_id: str, raw: str | bytes) -> None:
    before = api("GET", "/credit-grants", params={"customerId": "x", "limit": 1}).json()["pagination"]["totalResultSize"]
    response = api("POST", "/credit-grants", data=raw, headers={"Content-Type": "application/json"})
    assert_validation_error(response, None)
    after = api("GET", "/credit-grants", params={"customerId": "x", "limit": 1}).json()["pagination"]["totalResultSize"]
    assert after == before


def test_many_errors_are_listed_in_details(api: Any) -> None:
    body = {"customerId": new_customer(), "name": "", "type": "CASH", "amount": 5, "currency": "XYZ", "priority": 101}
    error = assert_validation_error(api("POST", "/credit-grants", json=body), ("name", "amount", "currency", "priority"))
    assert len(error["details"]) >= 2, error


def test_the_boundaries_themselves_are_accepted(api: Any) -> None:
    customer = new_customer()
    ok = [
        {**cash_body(customer), "name": "n" * 100},
        {**cash_body(customer), "priority": 0},
        {**cash_body(customer), "priority": 100},
        {**cash_body(customer), "amount": "1000000000000"},
        {**cash_body(customer), "amount": "0.01"},
        {**cash_body(customer), "metadata": {f"k{i}": "v" * 500 for i in range(50)}},
        {**cash_body(customer), "metadata": {"k" * 40: "v"}},
        {**cash_body(customer), "reason": "r" * 500},
        {**usage_body(customer), "amount": "0.000001"},
        {**usage_body(customer), "currency": "USD", "pricePerUnit": "0.000000000001"},
    ]
    for body in ok:
        response = api("POST", "/credit-grants", json=body)
        assert response.status_code == 201, (body, response.text)


# ---------------------------------------------------------------- other write routes


def _grant(api: Any) -> dict[str, Any]:
    response = api("POST", "/credit-grants", json=cash_body(new_customer()))
    assert response.status_code == 201, response.text
    return response.json()


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"name": ""}, ("name",)),
        ({"name": "n" * 101}, ("name",)),
        ({"priority": 101}, ("priority",)),
        ({"priority": "1"}, ("priority",)),
        ({"amount": "5.00"}, ("amount",)),
        ({"currency": "EUR"}, ("currency",)),
        ({"metadata": {"k": 1}}, ("metadata",)),
        ({"expiryDate": YESTERDAY}, ("expiryDate",)),
        ({"expiresAt": iso(NOW - timedelta(hours=1))}, ("expiresAt",)),
        ({"expiresAt": "2031-01-01T00:00:00"}, ("expiresAt",)),
        ({"expiryDate": "9999-12-31"}, ("expiryDate",)),
        ({"expiryDate": IN_10_DAYS, "expiresAt": f"{IN_20_DAYS}T00:00:00Z"}, ("expiryDate", "expiresAt")),
        ({"bogus": 1}, ("bogus",)),
    ],
)
def test_bad_patch_body_is_400_and_changes_nothing(api: Any, body: dict[str, Any], fields: tuple[str, ...]) -> None:
    grant = _grant(api)
    assert_validation_error(api("PATCH", f"/credit-grants/{grant['id']}", json=body), fields)
    assert api("GET", f"/credit-grants/{grant['id']}").json() == grant


@pytest.mark.parametrize(
    "raw", ["", "{", "[]", '{"reason": ""}', '{"reason": 5}', '{"reason": null}', '{"reason": "' + "r" * 501 + '"}', '{"reason": "x", "extra": 1}']
)
def test_bad_void_body_is_400_and_voids_nothing(api: Any, raw: str) -> None:
    grant = _grant(api)
    response = api("POST", f"/credit-grants/{grant['id']}/void", data=raw, headers={"Content-Type": "application/json"})
    assert_validation_error(response, None)
    assert api("GET", f"/credit-grants/{grant['id']}").json()["status"] == "ACTIVE"


def _app(customer: str, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "invoiceId": new_invoice(12),
        "customerId": customer,
        "currency": "USD",
        "lines": [{"lineId": "l1", "amount": "10.00"}],
    }
    body.update(overrides)
    return body


@pytest.mark.parametrize(
    ("overrides", "fields"),
    [
        ({"lines": []}, ("lines",)),
        ({"lines": [{"lineId": f"l{i}", "amount": "1.00"} for i in range(501)]}, ("lines",)),
        ({"lines": [{"lineId": "l1", "amount": 10}]}, ("amount",)),
        ({"lines": [{"lineId": "l1", "amount": "10.001"}]}, ("amount",)),
        ({"lines": [{"lineId": "l1", "amount": "-1.00"}]}, ("amount",)),
        ({"lines": [{"lineId": "l1", "amount": "10.00", "quantity": "1", "unitPrice": "10"}]}, ("amount", "quantity")),
        ({"lines": [{"lineId": "l1", "quantity": "1"}]}, ("unitPrice",)),
        ({"lines": [{"lineId": "l1", "metricId": "m", "quantity": "1.0000001", "unitPrice": "1"}]}, ("quantity",)),
        ({"lines": [{"lineId": "l1", "metricId": "m", "quantity": "1", "unitPrice": "0.0000000000001"}]}, ("unitPrice",)),
        ({"lines": [{"lineId": "l1"}]}, ("amount",)),
        ({"lines": [{"lineId": "l1", "amount": "1.00"}, {"lineId": "l1", "amount": "2.00"}]}, ("lineId",)),
        ({"currency": "XYZ"}, ("currency",)),
        ({"currency": DROP}, ("currency",)),
        ({"invoiceId": DROP}, ("invoiceId",)),
        ({"customerId": DROP}, ("customerId",)),
        ({"settle": "yes"}, ("settle",)),
        ({"lines": [{"lineId": "l1", "metricId": "m", "quantity": "1000000000000", "unitPrice": "2"}]}, ("quantity",)),
        ({"lines": [{"lineId": "l1", "amount": "1000000000000"}, {"lineId": "l2", "amount": "1"}]}, ("lines",)),
        ({"discount": "5"}, ("discount",)),
    ],
)
def test_bad_application_body_is_400(api: Any, overrides: dict[str, Any], fields: tuple[str, ...]) -> None:
    customer = new_customer()
    api("POST", "/credit-grants", json=cash_body(customer))
    body = _app(customer)
    for key, value in overrides.items():
        if value is DROP:
            body.pop(key, None)
        else:
            body[key] = value
    for path in ("/credit-applications", "/credit-applications/preview"):
        assert_validation_error(api("POST", path, json=body), fields)
    txns = api("GET", f"/customers/{customer}/credit-transactions").json()["items"]
    assert [t["type"] for t in txns] == ["GRANTED"]


@pytest.mark.parametrize(
    "params",
    [
        {"expiringWithinDays": "0"},
        {"expiringWithinDays": "366"},
        {"expiringWithinDays": "-3"},
        {"expiringWithinDays": "abc"},
        {"expiringWithinDays": "1.5"},
    ],
)
def test_bad_balance_query_is_400(api: Any, params: dict[str, str]) -> None:
    response = api("GET", f"/customers/{new_customer()}/credit-balance", params=params)
    assert_validation_error(response, ("expiringWithinDays",))


@pytest.mark.parametrize(
    "params",
    [
        {"from": "yesterday"},
        {"to": "2026-01-01T00:00:00"},
        {"type": "SPENT"},
        {"limit": "0"},
        {"limit": "101"},
        {"after": "garbage-cursor"},
    ],
)
def test_bad_transactions_query_is_400(api: Any, params: dict[str, str]) -> None:
    response = api("GET", f"/customers/{new_customer()}/credit-transactions", params=params)
    assert_validation_error(response, None)


def test_a_cursor_of_another_listing_of_the_same_customer_is_400(api: Any) -> None:
    customer = new_customer()
    for _ in range(3):
        api("POST", "/credit-grants", json=cash_body(customer))
    grants_cursor = api("GET", "/credit-grants", params={"customerId": customer, "limit": "1"}).json()["pagination"]["after"]
    ledger_cursor = api("GET", f"/customers/{customer}/credit-transactions", params={"limit": "1"}).json()["pagination"]["after"]
    assert grants_cursor and ledger_cursor
    assert_validation_error(api("GET", f"/customers/{customer}/credit-transactions", params={"after": grants_cursor}),
                            ("after",))
    assert_validation_error(api("GET", "/credit-grants", params={"customerId": customer, "before": ledger_cursor}),
                            ("before",))


@pytest.mark.parametrize("path", ["/credit-grants/{id}", "/credit-applications/{id}", "/credit-grant-schedules/{id}"])
def test_an_id_longer_than_any_key_is_not_found(api: Any, path: str) -> None:
    response = api("GET", path.format(id="x" * 2100))
    assert response.status_code == 404, response.text
    assert response.json()["error"]["code"] == "not_found"
    void = api("POST", f"/credit-grants/{'x' * 2100}/void", json={"reason": "r"})
    assert void.status_code == 404, void.text


@pytest.mark.parametrize("action", ["settle", "release"])
def test_settle_and_release_take_no_parameters(api: Any, action: str) -> None:
    customer = new_customer()
    api("POST", "/credit-grants", json=cash_body(customer))
    body = _app(customer)
    assert api("POST", "/credit-applications", json=body).status_code == 201
    path = f"/credit-applications/{body['invoiceId']}/{action}"
    for raw in ('{"x": 1}', "{", "[]", '"settle"'):
        assert_validation_error(api("POST", path, data=raw, headers={"Content-Type": "application/json"}), None)
    assert api("GET", f"/credit-applications/{body['invoiceId']}").json()["status"] == "PENDING"
    assert api("POST", path, data="{}", headers={"Content-Type": "application/json"}).status_code == 200
    assert api("POST", path).status_code == 200  # no body at all: a no-op repeat
