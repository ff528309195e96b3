"""End-to-end HTTP tests of creating, reading and listing credit grants (issue 2), driven through
the local stack with plain `requests`, asserting API.md's contract."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from tests.e2e.helpers import DATE, DECIMAL, assert_error, cash, create, day, list_all, new_customer, ts, usage

GRANT_FIELDS = {
    "id", "accountId", "customerId", "name", "type", "currency", "metricId", "originalAmount",
    "currentBalance", "pendingAmount", "costOfCredit", "pricePerUnit", "category", "priority",
    "taxRateId", "taxRate", "effectiveAt", "effectiveDate", "expiresAt", "expiryDate", "status", "reason",
    "metadata", "applicability", "invoiceRequested", "scheduleId", "createdAt", "updatedAt",
    "voidedAt", "voidReason", "expiredAt", "requirePayment", "rolledOverFrom", "topUpRuleId",
}


# ---------------------------------------------------------------- helpers


def assert_grant_shape(grant: dict[str, Any]) -> None:
    assert set(grant) == GRANT_FIELDS, set(grant) ^ GRANT_FIELDS
    assert isinstance(grant["id"], str) and grant["id"].startswith("cg_")
    for field in ("originalAmount", "currentBalance", "pendingAmount", "costOfCredit"):
        assert isinstance(grant[field], str) and DECIMAL.match(grant[field]), (field, grant[field])
    assert grant["pricePerUnit"] is None or (isinstance(grant["pricePerUnit"], str) and DECIMAL.match(grant["pricePerUnit"]))
    assert isinstance(grant["priority"], int) and not isinstance(grant["priority"], bool)
    assert 0 <= grant["priority"] <= 100
    assert grant["type"] in ("CASH", "USAGE")
    assert grant["category"] in ("PAID", "PROMOTIONAL")
    assert grant["status"] in ("SCHEDULED", "ACTIVE", "DEPLETED", "EXPIRED", "VOIDED")
    assert isinstance(grant["metadata"], dict)
    assert isinstance(grant["invoiceRequested"], bool)
    for field in ("createdAt", "updatedAt", "effectiveAt"):
        ts(grant[field])
    for field in ("expiresAt", "voidedAt", "expiredAt"):
        if grant[field] is not None:
            ts(grant[field])
    # effectiveDate is the first day usable, expiryDate the last day usable
    assert DATE.match(grant["effectiveDate"])
    assert grant["effectiveDate"] == ts(grant["effectiveAt"]).date().isoformat()
    if grant["expiresAt"] is None:
        assert grant["expiryDate"] is None
    else:
        assert DATE.match(grant["expiryDate"])
        last_usable = ts(grant["expiresAt"]) - timedelta(microseconds=1)
        assert grant["expiryDate"] == last_usable.date().isoformat(), grant
    if grant["type"] == "CASH":
        assert grant["metricId"] is None and grant["pricePerUnit"] is None
    else:
        assert isinstance(grant["metricId"], str) and grant["metricId"]
        assert grant["applicability"] is None


# ---------------------------------------------------------------- create


def test_create_cash_grant_with_every_field(api: Any) -> None:
    customer = new_customer()
    expiry = day(90)
    body = {
        "customerId": customer,
        "name": "On-boarding credits",
        "type": "CASH",
        "amount": "125.50",
        "currency": "EUR",
        "costOfCredit": "100.00",
        "category": "PAID",
        "priority": 10,
        "taxRateId": "txr_standard",
        "reason": "welcome offer",
        "metadata": {"campaign": "spring", "owner": "sales"},
        "applicability": {"metricIds": ["api_calls", "storage"]},
        "effectiveDate": "2026-01-01",
        "expiryDate": expiry,
        "generateInvoice": True,
    }
    before = datetime.now(UTC).replace(microsecond=0)
    grant = create(api, body)
    assert_grant_shape(grant)
    assert grant["accountId"] == "acct_a"
    assert grant["customerId"] == customer
    assert grant["name"] == "On-boarding credits"
    assert grant["type"] == "CASH"
    assert grant["currency"] == "EUR"
    assert grant["metricId"] is None
    assert Decimal(grant["originalAmount"]) == Decimal("125.50")
    assert Decimal(grant["currentBalance"]) == Decimal("125.50")
    assert Decimal(grant["pendingAmount"]) == 0
    assert Decimal(grant["costOfCredit"]) == Decimal("100.00")
    assert grant["pricePerUnit"] is None
    assert grant["category"] == "PAID"
    assert grant["priority"] == 10
    assert grant["taxRateId"] == "txr_standard"
    assert grant["reason"] == "welcome offer"
    assert grant["metadata"] == {"campaign": "spring", "owner": "sales"}
    assert grant["applicability"] == {"metricIds": ["api_calls", "storage"]}
    assert grant["effectiveDate"] == "2026-01-01"
    assert grant["effectiveAt"] == "2026-01-01T00:00:00Z"
    assert grant["expiryDate"] == expiry
    assert grant["expiresAt"] == f"{date.fromisoformat(expiry) + timedelta(days=1)}T00:00:00Z"
    assert grant["status"] == "ACTIVE"
    assert grant["invoiceRequested"] is True
    assert grant["scheduleId"] is None
    assert grant["voidedAt"] is None and grant["voidReason"] is None and grant["expiredAt"] is None
    assert ts(grant["createdAt"]) >= before
    assert ts(grant["updatedAt"]) >= ts(grant["createdAt"])


def test_create_usage_grant_with_every_field(api: Any) -> None:
    customer = new_customer()
    body = {
        "customerId": customer,
        "name": "API call pack",
        "type": "USAGE",
        "amount": "10000",
        "metricId": "api_calls",
        "currency": "USD",
        "costOfCredit": "25.00",
        "category": "PAID",
        "priority": 0,
        "taxRateId": "txr_1",
        "reason": "bought a pack",
        "metadata": {"k": "v"},
        "effectiveAt": "2026-03-04T05:06:07Z",
        "expiresAt": "2031-03-15T12:00:00Z",
        "generateInvoice": False,
    }
    grant = create(api, body)
    assert_grant_shape(grant)
    assert grant["type"] == "USAGE"
    assert grant["metricId"] == "api_calls"
    assert grant["currency"] == "USD"
    assert Decimal(grant["originalAmount"]) == 10000
    assert Decimal(grant["currentBalance"]) == 10000
    assert Decimal(grant["costOfCredit"]) == Decimal("25.00")
    assert Decimal(grant["pricePerUnit"]) == Decimal("0.0025")
    assert grant["priority"] == 0
    assert grant["effectiveAt"] == "2026-03-04T05:06:07Z"
    assert grant["effectiveDate"] == "2026-03-04"
    assert grant["expiresAt"] == "2031-03-15T12:00:00Z"
    assert grant["expiryDate"] == "2031-03-15"  # usable through part of that day: its last usable day
    assert grant["invoiceRequested"] is False
    assert grant["applicability"] is None
    assert grant["status"] == "ACTIVE"


def test_expiry_date_means_through_the_end_of_that_day(api: Any) -> None:
    grant = create(api, cash(new_customer(), expiryDate="2030-12-31"))
    assert grant["expiresAt"] == "2031-01-01T00:00:00Z"
    assert grant["expiryDate"] == "2030-12-31"
    by_instant = create(api, cash(new_customer(), expiresAt="2031-01-01T00:00:00Z"))
    assert by_instant["expiryDate"] == "2030-12-31"


def test_defaults(api: Any) -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    grant = create(api, cash(new_customer()))
    assert_grant_shape(grant)
    assert grant["category"] == "PAID"
    assert grant["priority"] == 50
    assert grant["metadata"] == {}
    assert grant["applicability"] is None
    assert grant["expiresAt"] is None and grant["expiryDate"] is None
    assert grant["invoiceRequested"] is False
    assert grant["taxRateId"] is None and grant["reason"] is None
    assert before <= ts(grant["effectiveAt"]) <= datetime.now(UTC) + timedelta(seconds=1)
    assert grant["status"] == "ACTIVE"


def test_cash_paid_cost_defaults_to_amount_and_promotional_cost_is_zero(api: Any) -> None:
    paid = create(api, cash(new_customer(), amount="42.10"))
    assert Decimal(paid["costOfCredit"]) == Decimal("42.10")
    promo = create(api, cash(new_customer(), amount="42.10", category="PROMOTIONAL"))
    assert promo["category"] == "PROMOTIONAL"
    assert Decimal(promo["costOfCredit"]) == 0
    explicit_zero = create(api, cash(new_customer(), category="PROMOTIONAL", costOfCredit="0"))
    assert Decimal(explicit_zero["costOfCredit"]) == 0


def test_usage_cost_and_price_per_unit_compute_each_other(api: Any) -> None:
    customer = new_customer()
    # pricePerUnit = costOfCredit / amount, rounded half-even to 12 fractional digits
    g = create(api, usage(customer, amount="3", currency="USD", costOfCredit="10.00"))
    assert Decimal(g["pricePerUnit"]) == Decimal("3.333333333333")
    g = create(api, usage(customer, amount="6", currency="USD", costOfCredit="1.00"))
    assert Decimal(g["pricePerUnit"]) == Decimal("0.166666666667")
    # costOfCredit = pricePerUnit × amount, rounded half-even to the currency
    g = create(api, usage(customer, amount="12345", currency="USD", pricePerUnit="0.000125"))
    assert Decimal(g["costOfCredit"]) == Decimal("1.54")
    assert Decimal(g["pricePerUnit"]) == Decimal("0.000125")
    g = create(api, usage(customer, amount="10", currency="USD", pricePerUnit="0.0125"))
    assert g["costOfCredit"] == "0.12"  # 0.125 → 0.12 (half-even), not 0.13
    g = create(api, usage(customer, amount="10", currency="USD", pricePerUnit="0.0135"))
    assert g["costOfCredit"] == "0.14"  # 0.135 → 0.14
    g = create(api, usage(customer, amount="1000", currency="JPY", pricePerUnit="0.0025"))
    assert g["costOfCredit"] == "2"  # 2.5 → 2 (half-even, JPY has no minor unit)
    # both given and agreeing
    g = create(api, usage(customer, amount="3", currency="USD", costOfCredit="10.00", pricePerUnit="3.333333333333"))
    assert Decimal(g["costOfCredit"]) == Decimal("10.00")
    # pricePerUnit with 12 fractional digits is accepted
    g = create(api, usage(customer, amount="1000000", currency="USD", pricePerUnit="0.000000012345"))
    assert Decimal(g["pricePerUnit"]) == Decimal("0.000000012345")
    assert g["costOfCredit"] in ("0.01",)  # 0.012345 → 0.01


def test_usage_without_cost_is_free(api: Any) -> None:
    g = create(api, usage(new_customer(), amount="500.125"))
    assert_grant_shape(g)
    assert Decimal(g["originalAmount"]) == Decimal("500.125")
    assert Decimal(g["costOfCredit"]) == 0


def test_usage_units_take_six_decimals(api: Any) -> None:
    g = create(api, usage(new_customer(), amount="0.000001"))
    assert Decimal(g["originalAmount"]) == Decimal("0.000001")


def test_jpy_has_no_decimals(api: Any) -> None:
    g = create(api, cash(new_customer(), amount="1000", currency="JPY"))
    assert g["originalAmount"] == "1000"
    assert g["currentBalance"] == "1000"
    assert g["costOfCredit"] == "1000"
    assert "." not in g["pendingAmount"]
    bad = api("POST", "/credit-grants", json=cash(new_customer(), amount="1000.5", currency="JPY"))
    assert_error(bad, 400, "validation_error")


def test_usd_amount_with_fewer_decimals_is_accepted(api: Any) -> None:
    for amount in ("7", "7.5", "7.50", "1000000000000"):
        g = create(api, cash(new_customer(), amount=amount))
        assert Decimal(g["originalAmount"]) == Decimal(amount)


def test_every_supported_currency_sample(api: Any) -> None:
    for currency, amount in (("USD", "1.25"), ("EUR", "1.25"), ("GBP", "1.25"), ("JPY", "125"), ("KRW", "125"), ("CLP", "125"), ("ISK", "125")):
        g = create(api, cash(new_customer(), amount=amount, currency=currency))
        assert g["currency"] == currency
        assert Decimal(g["originalAmount"]) == Decimal(amount)


def test_effective_in_the_future_reads_scheduled(api: Any) -> None:
    g = create(api, cash(new_customer(), effectiveDate=day(3)))
    assert g["status"] == "SCHEDULED"
    assert g["effectiveAt"] == f"{day(3)}T00:00:00Z"


# ---------------------------------------------------------------- get


def test_get_returns_the_created_grant(api: Any) -> None:
    g = create(api, cash(new_customer(), metadata={"a": "1"}))
    response = api("GET", f"/credit-grants/{g['id']}")
    assert response.status_code == 200
    assert response.json() == g


def test_get_unknown_grant_is_404(api: Any) -> None:
    assert_error(api("GET", "/credit-grants/cg_doesnotexist"), 404, "not_found")
    assert_error(api("GET", "/credit-grants/cg_01ZZZZZZZZZZZZZZZZZZZZZZZZ"), 404, "not_found")


def test_another_accounts_grant_is_404(api: Any) -> None:
    customer = new_customer()
    g = create(api, cash(customer))
    assert_error(api("GET", f"/credit-grants/{g['id']}", key="key_b"), 404, "not_found")
    # nor does it show in the other account's list, even filtered by the same customer id
    response = api("GET", "/credit-grants", key="key_b", params={"customerId": customer})
    assert response.status_code == 200
    assert response.json()["items"] == []
    assert response.json()["pagination"]["totalResultSize"] == 0
    # and the other account's own grant for the same customer id is separate
    other = create(api, cash(customer), key="key_b")
    assert other["accountId"] == "acct_b"
    assert [x["id"] for x in list_all(api, "/credit-grants", customerId=customer)] == [g["id"]]
    assert [x["id"] for x in list_all(api, "/credit-grants", key="key_b", customerId=customer)] == [other["id"]]


def test_account_comes_from_the_key_not_the_body(api: Any) -> None:
    response = api("POST", "/credit-grants", json={**cash(new_customer()), "accountId": "acct_b"})
    # accountId is not a field of the create body: refused as unknown (never honoured)
    if response.status_code == 201:
        assert response.json()["accountId"] == "acct_a"
    else:
        assert_error(response, 400, "validation_error")


# ---------------------------------------------------------------- auth


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer nope"},
        {"Authorization": "Bearer "},
        {"Authorization": "key_a"},
        {"Authorization": "Basic bm9wZTo="},  # an unknown key as Basic (a known one is accepted: v2)
    ],
    ids=["missing", "unknown", "empty", "no-scheme", "basic"],
)
def test_unauthorized(api: Any, headers: dict[str, str]) -> None:
    for method, path, kwargs in (
        ("GET", "/credit-grants", {}),
        ("POST", "/credit-grants", {"json": cash(new_customer())}),
        ("GET", "/credit-grants/cg_x", {}),
        ("GET", f"/customers/{new_customer()}/credit-balance", {}),
    ):
        response = api(method, path, key=None, headers=headers, **kwargs)
        assert_error(response, 401, "unauthorized")


def test_unauthorized_create_creates_nothing(api: Any) -> None:
    customer = new_customer()
    api("POST", "/credit-grants", key="nope", json=cash(customer))
    assert list_all(api, "/credit-grants", customerId=customer) == []


# ---------------------------------------------------------------- list


def test_list_newest_first_with_filters(api: Any) -> None:
    customer = new_customer()
    created = [
        create(api, cash(customer, currency="USD")),
        create(api, cash(customer, currency="EUR")),
        create(api, usage(customer, metric="api_calls")),
        create(api, usage(customer, metric="storage_gb", currency="USD", costOfCredit="5.00")),
        create(api, cash(customer, currency="USD", effectiveDate=day(5))),
        create(api, cash(customer, currency="GBP")),
    ]
    voided = api("POST", f"/credit-grants/{created[5]['id']}/void", json={"reason": "mistake"})
    assert voided.status_code == 200, voided.text
    ids = [g["id"] for g in created]
    newest_first = list(reversed(ids))

    everything = list_all(api, "/credit-grants", customerId=customer)
    assert [g["id"] for g in everything] == newest_first
    for g in everything:
        assert_grant_shape(g)
        assert g["customerId"] == customer

    def ids_for(**params: Any) -> list[str]:
        return [g["id"] for g in list_all(api, "/credit-grants", customerId=customer, **params)]

    assert ids_for(type="CASH") == [ids[5], ids[4], ids[1], ids[0]]
    assert ids_for(type="USAGE") == [ids[3], ids[2]]
    assert ids_for(currency="USD") == [ids[4], ids[3], ids[0]]  # USAGE with a USD cost included
    assert ids_for(currency="EUR") == [ids[1]]
    assert ids_for(metricId="api_calls") == [ids[2]]
    assert ids_for(metricId="storage_gb") == [ids[3]]
    assert ids_for(status="VOIDED") == [ids[5]]
    assert ids_for(status="SCHEDULED") == [ids[4]]
    assert ids_for(status="ACTIVE") == [ids[3], ids[2], ids[1], ids[0]]
    assert ids_for(type="CASH", currency="USD") == [ids[4], ids[0]]
    assert ids_for(type="CASH", status="ACTIVE") == [ids[1], ids[0]]
    response = api("GET", "/credit-grants", params={"customerId": customer, "type": "CASH"})
    assert response.json()["pagination"]["totalResultSize"] == 4


def test_list_without_customer_filter_includes_only_own_account(api: Any) -> None:
    mine = create(api, cash(new_customer()))
    theirs = create(api, cash(new_customer()), key="key_b")
    first = api("GET", "/credit-grants", params={"limit": 100}).json()
    ids = [g["id"] for g in first["items"]]
    assert ids[0] == mine["id"] or mine["id"] in ids
    assert theirs["id"] not in ids
    assert all(g["accountId"] == "acct_a" for g in first["items"])


@pytest.mark.parametrize(
    "params",
    [
        {"limit": "0"},
        {"limit": "101"},
        {"limit": "-1"},
        {"limit": "abc"},
        {"limit": "1.5"},
        {"status": "ALIVE"},
        {"type": "MONEY"},
        {"currency": "XYZ"},
    ],
)
def test_list_bad_query_is_400(api: Any, params: dict[str, str]) -> None:
    assert_error(api("GET", "/credit-grants", params=params), 400, "validation_error")


def test_list_limit_bounds_and_default(api: Any) -> None:
    customer = new_customer()
    for _ in range(22):
        create(api, cash(customer, amount="1.00"))
    default = api("GET", "/credit-grants", params={"customerId": customer}).json()
    assert len(default["items"]) == 20
    assert default["pagination"]["totalResultSize"] == 22
    assert default["pagination"]["after"] is not None
    one = api("GET", "/credit-grants", params={"customerId": customer, "limit": 1}).json()
    assert len(one["items"]) == 1
    hundred = api("GET", "/credit-grants", params={"customerId": customer, "limit": 100}).json()
    assert len(hundred["items"]) == 22
    assert hundred["pagination"]["after"] is None
    assert hundred["pagination"]["before"] is None


def test_pagination_through_45_grants(api: Any) -> None:
    customer = new_customer()
    ids = [create(api, cash(customer, amount=f"{i + 1}.00"))["id"] for i in range(45)]
    expected = list(reversed(ids))

    pages: list[dict[str, Any]] = []
    params: dict[str, Any] = {"customerId": customer, "limit": 10}
    while True:
        response = api("GET", "/credit-grants", params=params)
        assert response.status_code == 200, response.text
        page = response.json()
        assert set(page) == {"items", "pagination"}
        assert set(page["pagination"]) == {"after", "before", "totalResultSize"}
        assert page["pagination"]["totalResultSize"] == 45
        pages.append(page)
        if page["pagination"]["after"] is None:
            break
        assert isinstance(page["pagination"]["after"], str)
        params = {"customerId": customer, "limit": 10, "after": page["pagination"]["after"]}
        assert len(pages) < 10
    assert [len(p["items"]) for p in pages] == [10, 10, 10, 10, 5]
    visited = [g["id"] for p in pages for g in p["items"]]
    assert visited == expected  # each exactly once, newest first
    assert pages[0]["pagination"]["before"] is None  # nothing before the first page

    # `before` goes back: from page 3 to page 2, from page 2 to page 1, from the last page to page 4
    for index in (2, 1, 4):
        cursor = pages[index]["pagination"]["before"]
        assert isinstance(cursor, str)
        back = api("GET", "/credit-grants", params={"customerId": customer, "limit": 10, "before": cursor})
        assert back.status_code == 200, back.text
        assert [g["id"] for g in back.json()["items"]] == [g["id"] for g in pages[index - 1]["items"]]
        assert back.json()["pagination"]["totalResultSize"] == 45
    back_to_first = api(
        "GET", "/credit-grants", params={"customerId": customer, "limit": 10, "before": pages[1]["pagination"]["before"]}
    ).json()
    assert back_to_first["pagination"]["before"] is None
    assert back_to_first["pagination"]["after"] is not None


def test_pagination_is_stable_while_new_grants_are_written(api: Any) -> None:
    customer = new_customer()
    ids = [create(api, cash(customer))["id"] for _ in range(12)]
    page = api("GET", "/credit-grants", params={"customerId": customer, "limit": 5}).json()
    seen = [g["id"] for g in page["items"]]
    # new grants arrive between pages: they are newer, so paging forward never shows them
    for _ in range(3):
        create(api, cash(customer))
    while page["pagination"]["after"]:
        page = api("GET", "/credit-grants", params={"customerId": customer, "limit": 5, "after": page["pagination"]["after"]}).json()
        seen.extend(g["id"] for g in page["items"])
    assert seen == list(reversed(ids))


def _tamper(cursor: str) -> list[str]:
    flipped = cursor[:-2] + ("A" if cursor[-2] != "A" else "B") + cursor[-1]
    variants = [flipped, cursor[:-3], cursor + "x", "not-a-cursor", "", "%%%", base64.urlsafe_b64encode(b'{"pk":"x"}').decode()]
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        mutated = bytearray(raw)
        mutated[len(mutated) // 2] ^= 0x01
        variants.append(base64.urlsafe_b64encode(bytes(mutated)).decode().rstrip("="))
    except Exception:  # noqa: BLE001 - cursor need not be base64
        pass
    return [v for v in variants if v != cursor]


def test_tampered_cursor_is_400(api: Any) -> None:
    customer = new_customer()
    for _ in range(3):
        create(api, cash(customer))
    page = api("GET", "/credit-grants", params={"customerId": customer, "limit": 1}).json()
    cursor = page["pagination"]["after"]
    assert cursor
    for bad in _tamper(cursor):
        if bad == "":
            continue  # an empty cursor may reasonably read as "no cursor"
        for direction in ("after", "before"):
            response = api("GET", "/credit-grants", params={"customerId": customer, "limit": 1, direction: bad})
            assert_error(response, 400, "validation_error")


def test_cursor_from_another_account_or_filter_is_not_honoured(api: Any) -> None:
    customer = new_customer()
    for _ in range(3):
        create(api, cash(customer))
    cursor = api("GET", "/credit-grants", params={"customerId": customer, "limit": 1}).json()["pagination"]["after"]
    other = api("GET", "/credit-grants", key="key_b", params={"customerId": customer, "limit": 1, "after": cursor})
    # another account's cursor must never reveal acct_a's grants
    if other.status_code == 200:
        assert other.json()["items"] == []
    else:
        assert_error(other, 400, "validation_error")


# ---------------------------------------------------------------- idempotency


def test_idempotency_key_replays_the_first_response(api: Any) -> None:
    customer = new_customer()
    key = f"idem-{uuid.uuid4()}"
    body = cash(customer, amount="12.34")
    first = api("POST", "/credit-grants", json=body, headers={"Idempotency-Key": key})
    assert first.status_code == 201, first.text
    second = api("POST", "/credit-grants", json=body, headers={"Idempotency-Key": key})
    assert second.status_code == 201
    assert second.json() == first.json()
    assert len(list_all(api, "/credit-grants", customerId=customer)) == 1
    txns = list_all(api, f"/customers/{customer}/credit-transactions")
    assert [t["type"] for t in txns] == ["GRANTED"]

    different = api("POST", "/credit-grants", json={**body, "amount": "99.00"}, headers={"Idempotency-Key": key})
    assert_error(different, 409, "conflict")
    assert len(list_all(api, "/credit-grants", customerId=customer)) == 1

    # without the header, the same body creates a second grant
    assert api("POST", "/credit-grants", json=body).status_code == 201
    assert len(list_all(api, "/credit-grants", customerId=customer)) == 2


def test_idempotency_key_is_per_account(api: Any) -> None:
    customer = new_customer()
    key = f"idem-{uuid.uuid4()}"
    body = cash(customer)
    a = api("POST", "/credit-grants", json=body, headers={"Idempotency-Key": key})
    b = api("POST", "/credit-grants", key="key_b", json=body, headers={"Idempotency-Key": key})
    assert a.status_code == 201 and b.status_code == 201, (a.text, b.text)
    assert a.json()["id"] != b.json()["id"]
    assert b.json()["accountId"] == "acct_b"


def test_idempotency_key_replays_a_400_too_or_rejects_again(api: Any) -> None:
    key = f"idem-{uuid.uuid4()}"
    body = cash(new_customer(), amount="-1")
    first = api("POST", "/credit-grants", json=body, headers={"Idempotency-Key": key})
    second = api("POST", "/credit-grants", json=body, headers={"Idempotency-Key": key})
    assert first.status_code == second.status_code == 400
    assert first.json() == second.json()


def test_idempotency_key_too_long_is_400(api: Any) -> None:
    customer = new_customer()
    response = api("POST", "/credit-grants", json=cash(customer), headers={"Idempotency-Key": "k" * 256})
    assert_error(response, 400, "validation_error")
    assert list_all(api, "/credit-grants", customerId=customer) == []
    ok = api("POST", "/credit-grants", json=cash(customer), headers={"Idempotency-Key": f"{uuid.uuid4()}".ljust(255, "k")})
    assert ok.status_code == 201, ok.text


def test_create_writes_one_granted_entry(api: Any) -> None:
    customer = new_customer()
    g = create(api, cash(customer, amount="15.00", reason="goodwill"))
    txns = list_all(api, f"/customers/{customer}/credit-transactions")
    assert len(txns) == 1
    t = txns[0]
    assert set(t) == {"id", "grantId", "customerId", "type", "amount", "balanceAfter", "invoiceId", "lineId", "reason",
                      "createdAt", "actor"}
    assert t["grantId"] == g["id"] and t["customerId"] == customer and t["type"] == "GRANTED"
    assert Decimal(t["amount"]) == Decimal("15.00") and Decimal(t["balanceAfter"]) == Decimal("15.00")
    assert t["invoiceId"] is None
    ts(t["createdAt"])
