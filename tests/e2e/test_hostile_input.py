"""Hostile input over HTTP, against the local stack: oversized bodies get 413, and malformed or
malicious JSON, bad content types and bad query parameters get 400 with the contract's error
body — never a 500, never a stack trace."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

MAX_BODY = 256 * 1024
TRACE_MARKERS = ("Traceback", 'File "', "site-packages", "Exception", "line ")

GRANT = {"customerId": "cus_hostile", "name": "Hostile input credits", "type": "CASH", "amount": "10.00",
         "currency": "USD"}
APPLICATION = {"invoiceId": "inv_hostile_1", "customerId": "cus_hostile", "currency": "USD",
               "lines": [{"lineId": "l1", "amount": "1.00"}]}


@pytest.fixture(scope="module")
def grant_id(stack) -> str:
    import requests

    stack.activate()  # module scope: runs before the autouse per-test activation
    try:
        response = requests.post(stack.api_url + "/credit-grants", json=GRANT,
                                 headers={"Authorization": "Bearer key_a"}, timeout=30)
    finally:
        stack.deactivate()
    assert response.status_code == 201, response.text
    return response.json()["id"]


def _routes(grant_id: str) -> list[tuple[str, str]]:
    return [("POST", "/credit-grants"), ("PATCH", f"/credit-grants/{grant_id}"),
            ("POST", f"/credit-grants/{grant_id}/void"), ("POST", "/credit-applications")]


ROUTE_IDS = ["create", "patch", "void", "apply"]


def _assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    text = response.text
    assert response.status_code == status, f"{response.status_code}: {text[:500]}"
    assert response.headers.get("Content-Type", "").startswith("application/json"), response.headers
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert error["code"] == code, body
    assert isinstance(error["message"], str) and error["message"], body
    assert isinstance(error["details"], list), body
    for marker in TRACE_MARKERS:
        assert marker not in text, f"stack trace leaked ({marker!r}): {text[:500]}"
    return error


def _send(api: Callable[..., Any], method: str, path: str, data: bytes | str,
          content_type: str | None = "application/json") -> Any:
    headers = {"Content-Type": content_type} if content_type else {}
    return api(method, path, data=data.encode() if isinstance(data, str) else data, headers=headers)


# ====================================================================== 413


@pytest.mark.parametrize("route", range(4), ids=ROUTE_IDS)
def test_body_over_256_kb_is_413(api, grant_id, route):
    method, path = _routes(grant_id)[route]
    body = json.dumps({**GRANT, "name": "x" * (MAX_BODY + 1)})
    _assert_error(_send(api, method, path, body), 413, "payload_too_large")


def test_body_of_multibyte_characters_over_256_kb_is_413(api):
    body = json.dumps({**GRANT, "name": "é" * (MAX_BODY // 2 + 10)}, ensure_ascii=False)
    assert len(body) < MAX_BODY < len(body.encode())
    _assert_error(_send(api, "POST", "/credit-grants", body), 413, "payload_too_large")


def test_body_just_under_256_kb_is_not_413(api):
    body = json.dumps({**GRANT, "reason": "x" * 1000})
    body += " " * (MAX_BODY - len(body) - 1)
    response = _send(api, "POST", "/credit-grants", body)
    _assert_error(response, 400, "validation_error")  # reason > 500 chars, not too large


def test_stripe_body_over_256_kb_is_413_in_stripes_envelope(api):
    response = _send(api, "POST", "/v1/billing/credit_grants", "name=" + "x" * (MAX_BODY + 1),
                     "application/x-www-form-urlencoded")
    assert response.status_code == 413, response.text
    error = response.json()["error"]
    assert error["type"] and error["message"] and "Traceback" not in response.text


# ====================================================================== malformed JSON → 400

HOSTILE_BODIES: dict[str, bytes] = {
    "nested_arrays_10000": b"[" * 10_000 + b"]" * 10_000,
    "nested_objects_10000": b'{"a":' * 10_000 + b"1" + b"}" * 10_000,
    "nested_in_field_10000": b'{"metadata": ' + b'{"a":' * 10_000 + b'"v"' + b"}" * 10_000 + b"}",
    "nested_100": b'{"a":' * 100 + b"1" + b"}" * 100,
    "non_utf8": b'{"customerId": "cus_\xff\xfe", "name": "\xc3\x28"}',
    "latin1": '{"name": "caf\u00e9"}'.encode("latin-1"),
    "lone_surrogate_escape": b'{"customerId": "cus_1", "name": "\\ud800", "type": "CASH", "amount": "1", "currency": "USD"}',
    "huge_float_1e400": b'{"customerId": "cus_1", "name": "n", "type": "CASH", "amount": 1e400, "currency": "USD"}',
    "huge_float_priority": b'{"priority": 1e400}',
    "huge_negative_float": b'{"priority": -1e400}',
    "huge_int_5000_digits": b'{"priority": 1' + b"0" * 5000 + b"}",
    "huge_int_amount": b'{"amount": 1' + b"0" * 5000 + b', "customerId": "c"}',
    "huge_string_amount": b'{"customerId": "c", "name": "n", "type": "CASH", "currency": "USD", "amount": "1' + b"0" * 5000 + b'"}',
    "nan_literal": b'{"priority": NaN}',
    "infinity_literal": b'{"priority": Infinity}',
    "minus_infinity_literal": b'{"priority": -Infinity}',
    "nan_amount": b'{"customerId": "c", "name": "n", "type": "CASH", "currency": "USD", "amount": NaN}',
    "duplicate_keys": b'{"name": "a", "name": "b", "reason": "r", "reason": "s"}',
    "duplicate_nested_keys": b'{"metadata": {"k": "a", "k": "b"}}',
    "raw_control_chars": b'{"name": "a\x00b\x01c\x1f", "reason": "\x07"}',
    "escaped_nul": b'{"customerId": "cus_\\u0000", "name": "\\u0000\\u0001"}',
    "empty": b"",
    "whitespace": b"   \n\t ",
    "null": b"null",
    "array": b"[]",
    "string": b'"hello"',
    "number": b"42",
    "truncated": b'{"name": "abc',
    "trailing_garbage": b'{"reason": "r"} {"reason": "s"}',
    "bom": b'\xef\xbb\xbf{"reason": "r"}',
    "single_quotes": b"{'reason': 'r'}",
    "comment": b'{"reason": "r" /* hi */}',
    "trailing_comma": b'{"reason": "r",}',
    "wrong_types": b'{"customerId": 1, "name": true, "type": ["CASH"], "amount": {"v": 1}, "priority": "50", '
                   b'"metadata": [], "generateInvoice": "yes", "settle": 1, "lines": {}, "reason": 5}',
    "amount_as_number": b'{"customerId": "c", "name": "n", "type": "CASH", "currency": "USD", "amount": 10}',
    "unknown_field": b'{"customerId": "c", "name": "n", "type": "CASH", "currency": "USD", "amount": "1", '
                     b'"accountId": "acct_b", "reason": "r", "invoiceId": "i", "lines": [], "bogus": 1}',
}


@pytest.mark.parametrize("route", range(4), ids=ROUTE_IDS)
@pytest.mark.parametrize("name", list(HOSTILE_BODIES))
def test_hostile_json_is_400(api, grant_id, route, name):
    method, path = _routes(grant_id)[route]
    _assert_error(_send(api, method, path, HOSTILE_BODIES[name]), 400, "validation_error")


CONTROL_STRINGS = ["\u0000", "\u0001\u0002\u0003", "a\u0000b", "\u001b[31mred\u001b[0m", "\u007f", "line\u2028sep"]


@pytest.mark.parametrize("value", CONTROL_STRINGS, ids=["nul", "c0", "embedded_nul", "ansi", "del", "u2028"])
@pytest.mark.parametrize("field", ["customerId", "name", "reason", "metricId", "taxRateId"])
def test_control_characters_in_create_fields_are_400(api, value, field):
    body = {**GRANT, field: value}
    if field == "metricId":
        body.update(type="USAGE", costOfCredit="0")
    _assert_error(api("POST", "/credit-grants", json=body), 400, "validation_error")


@pytest.mark.parametrize("value", CONTROL_STRINGS[:3], ids=["nul", "c0", "embedded_nul"])
def test_control_characters_in_metadata_and_void_reason_are_400(api, grant_id, value):
    _assert_error(api("POST", "/credit-grants", json={**GRANT, "metadata": {"k": value}}), 400, "validation_error")
    _assert_error(api("POST", "/credit-grants", json={**GRANT, "metadata": {value: "v"}}), 400, "validation_error")
    _assert_error(api("POST", f"/credit-grants/{grant_id}/void", json={"reason": value}), 400, "validation_error")
    _assert_error(api("PATCH", f"/credit-grants/{grant_id}", json={"name": value}), 400, "validation_error")
    _assert_error(api("POST", "/credit-applications", json={**APPLICATION, "invoiceId": value}), 400,
                  "validation_error")


# ====================================================================== content types


@pytest.mark.parametrize("content_type", [
    "text/plain", "application/xml", "text/html; charset=utf-8", "application/octet-stream",
    "multipart/form-data; boundary=xyz", "application/x-www-form-urlencoded", "image/png", "*/*",
])
@pytest.mark.parametrize("route", range(4), ids=ROUTE_IDS)
def test_any_content_type_is_read_as_json(api, grant_id, route, content_type):
    """The JSON API reads every body as JSON whatever Content-Type says (curl -d sends a form
    type): a JSON body is accepted, anything else is a 400 - never a 500, never an empty form."""
    method, path = _routes(grant_id)[route]
    body = {0: GRANT, 1: {"name": "renamed"}, 2: {"reason": "r"}, 3: APPLICATION}[route]
    if route == 3:
        body = {**body, "invoiceId": f"inv_ct_{abs(hash(content_type))}"}
    accepted = _send(api, method, path, json.dumps(body), content_type)
    assert accepted.status_code in (200, 201), accepted.text
    _assert_error(_send(api, method, path, "name=renamed&reason=r", content_type), 400, "validation_error")


def test_no_content_type_with_a_json_body_is_accepted_as_json(api):
    response = _send(api, "POST", "/credit-grants", json.dumps(GRANT), None)
    assert response.status_code in (201, 400), response.text
    assert "Traceback" not in response.text


# ====================================================================== query parameters

BAD_QUERIES = [
    "/credit-grants?limit=abc", "/credit-grants?limit=0", "/credit-grants?limit=101", "/credit-grants?limit=-1",
    "/credit-grants?limit=1e2", "/credit-grants?limit=99999999999999999999999", "/credit-grants?limit=",
    "/credit-grants?limit=NaN", "/credit-grants?after=garbage", "/credit-grants?before=garbage",
    "/credit-grants?after=%00%01", "/credit-grants?after=" + "A" * 3000, "/credit-grants?status=BOGUS",
    "/credit-grants?type=cash%00", "/credit-grants?currency=US", "/credit-grants?customerId=a%23b",
    "/customers/cus_1/credit-transactions?from=garbage", "/customers/cus_1/credit-transactions?to=2026-13-45T00:00:00Z",
    "/customers/cus_1/credit-transactions?limit=abc", "/customers/cus_1/credit-transactions?after=bm9wZQ",
    "/customers/cus_1/credit-transactions?type=NOPE", "/customers/cus_1/credit-balance?expiringWithinDays=0",
    "/customers/cus_1/credit-balance?expiringWithinDays=366", "/customers/cus_1/credit-balance?expiringWithinDays=x",
    "/reports/credits?from=garbage&to=2026-01-01T00:00:00Z", "/reports/credits?from=2026-01-01T00:00:00Z",
    "/reports/credits", "/credit-grant-schedules?limit=0", "/credit-grant-schedules?after=garbage",
]


@pytest.mark.parametrize("path", BAD_QUERIES)
def test_bad_query_parameters_are_400(api, path):
    _assert_error(api("GET", path), 400, "validation_error")


def test_a_cursor_of_another_account_or_listing_is_400(api):
    for _ in range(2):
        assert api("POST", "/credit-grants", json=GRANT).status_code == 201
    first = api("GET", "/credit-grants?limit=1")
    assert first.status_code == 200, first.text
    cursor = first.json()["pagination"]["after"]
    assert cursor
    _assert_error(api("GET", f"/credit-grants?limit=1&after={cursor}", key="key_b"), 400, "validation_error")
    _assert_error(api("GET", f"/customers/cus_hostile/credit-transactions?after={cursor}"), 400, "validation_error")


@pytest.mark.parametrize("path", ["/credit-grants/%00", "/credit-grants/%0A", "/credit-grants/x%0A", "/credit-grants/" + "x" * 2000, "/credit-grants/a%23b",
                                  "/credit-applications/%ff%fe", "/customers/%00/credit-balance"])
def test_hostile_path_parameters_are_4xx_never_5xx(api, path):
    response = api("GET", path)
    assert response.status_code in (400, 404), f"{response.status_code}: {response.text[:300]}"
    _assert_error(response, response.status_code, "validation_error" if response.status_code == 400 else "not_found")
