"""The console's API gaps over HTTP: GET /customers (the customer directory) and /tax-rates."""

from __future__ import annotations

import time
import uuid

from tests.e2e.helpers import day


def _directory_shows(api, prefix: str, ready, bound_seconds: float = 60.0) -> dict:
    """The customer directory is written from the table stream (PublisherFunction), moments after
    the write: read it until `ready(body)` holds (an upper bound on waiting, never a timing
    asserted)."""
    deadline = time.monotonic() + bound_seconds
    while True:
        r = api("GET", "/customers", params={"customerIdPrefix": prefix})
        assert r.status_code == 200, r.text
        if ready(r.json()) or time.monotonic() > deadline:
            return r.json()
        time.sleep(0.2)


def _grant(api, customer: str, amount: str = "10.00", **extra):
    body = {"customerId": customer, "name": "credit", "type": "CASH", "amount": amount, "currency": "USD", **extra}
    r = api("POST", "/credit-grants", json=body)
    assert r.status_code == 201, r.text
    return r.json()


def test_customers_most_recent_activity_first_with_balances_and_prefix(api):
    prefix = f"cus_dir{uuid.uuid4().hex[:8]}"
    first, second = f"{prefix}_a", f"{prefix}_b"
    _grant(api, first, "10.00")
    _grant(api, second, "5.00")
    _grant(api, second, "2.50")
    body = _directory_shows(api, prefix, lambda b: len(b["items"]) == 2)
    assert [c["customerId"] for c in body["items"]] == [second, first]  # most recent activity first
    assert body["pagination"]["totalResultSize"] == 2
    by_id = {c["customerId"]: c for c in body["items"]}
    assert by_id[second]["grantCount"] == 2
    assert by_id[second]["balances"][0]["available"] == "7.50"
    # Activity on the first customer moves it ahead of the second in the unfiltered list (other
    # tests' customers may be interleaved: page until both are seen).
    moved = _grant(api, first, "1.00")
    _directory_shows(api, prefix, lambda b: any(c["customerId"] == first and c["lastActivityAt"] >= moved["createdAt"]
                                                  and c["grantCount"] == 2 for c in b["items"]))
    def both_in_list_order():
        order, after = [], None
        while len(order) < 2:
            page = api("GET", "/customers", params={"limit": 100, **({"after": after} if after else {})}).json()
            order += [c for c in page["items"] if c["customerId"] in (first, second)]
            after = page["pagination"]["after"]
            if not after:
                break
        return order, page

    # The unfiltered list reads an index (eventually consistent on AWS): look again for a while.
    deadline = time.monotonic() + 30
    order, page = both_in_list_order()
    while [c["customerId"] for c in order] != [first, second] and time.monotonic() < deadline:
        time.sleep(0.5)
        order, page = both_in_list_order()
    assert [c["customerId"] for c in order] == [first, second]
    assert order[0]["lastActivityAt"] >= order[1]["lastActivityAt"]
    stamps = [c["lastActivityAt"] for c in page["items"]]
    assert stamps == sorted(stamps, reverse=True)


def test_customers_pages_visit_every_customer_once(api):
    prefix = f"cus_pg{uuid.uuid4().hex[:8]}"
    made = {f"{prefix}_{i}" for i in range(5)}
    for customer in sorted(made):
        _grant(api, customer)
    _directory_shows(api, prefix, lambda b: b["pagination"]["totalResultSize"] == len(made))
    seen, after = [], None
    while True:
        params = {"customerIdPrefix": prefix, "limit": 2, **({"after": after} if after else {})}
        page = api("GET", "/customers", params=params).json()
        seen += [c["customerId"] for c in page["items"]]
        after = page["pagination"]["after"]
        if not after:
            break
    assert sorted(seen) == sorted(made) and len(seen) == len(made)
    # Filtered or not, most recent activity first (they were granted to in id order).
    assert seen == sorted(made, reverse=True)
    back = api("GET", "/customers", params={"customerIdPrefix": prefix, "limit": 2, "before": page["pagination"]["before"]})
    assert [c["customerId"] for c in back.json()["items"]] == seen[2:4]


def test_customers_other_account_sees_nothing_and_bad_input_is_400(api):
    prefix = f"cus_iso{uuid.uuid4().hex[:8]}"
    _grant(api, f"{prefix}_x")
    _directory_shows(api, prefix, lambda b: len(b["items"]) == 1)
    assert api("GET", "/customers", key="key_b", params={"customerIdPrefix": prefix}).json()["items"] == []
    for params, field in (({"limit": "0"}, "limit"), ({"after": "garbage"}, "after"),
                          ({"customerIdPrefix": "<script>"}, "customerIdPrefix")):
        r = api("GET", "/customers", params=params)
        assert r.status_code == 400, (params, r.text)
        assert field in r.text
    assert api("GET", "/customers", key=None).status_code == 401


def test_tax_rates_crud_and_grant_snapshot(api, webhook_receiver):
    r = api("POST", "/tax-rates", json={"name": "VAT 20%", "percentage": "20", "inclusive": False})
    assert r.status_code == 201, r.text
    rate = r.json()
    assert rate["id"].startswith("txr_") and rate["active"] is True and rate["percentage"] == "20"
    assert api("GET", f"/tax-rates/{rate['id']}").json() == rate
    assert api("GET", f"/tax-rates/{rate['id']}", key="key_b").status_code == 404
    listed = api("GET", "/tax-rates", params={"limit": 100}).json()
    assert rate["id"] in [t["id"] for t in listed["items"]]
    patched = api("PATCH", f"/tax-rates/{rate['id']}", json={"name": "VAT standard", "active": False}).json()
    assert patched["name"] == "VAT standard" and patched["active"] is False
    customer = f"cus_tax{uuid.uuid4().hex[:8]}"
    grant = _grant(api, customer, "30.00", taxRateId=rate["id"], generateInvoice=True, expiryDate=day(30))
    assert grant["taxRate"] == {"name": "VAT standard", "percentage": "20"}
    assert api("GET", f"/credit-grants/{grant['id']}").json()["taxRate"] == grant["taxRate"]
    event = webhook_receiver.wait_for(lambda e: e["detail-type"] == "account.credits.invoice_requested"
                                      and e["detail"]["grantId"] == grant["id"])
    assert event["detail"]["data"]["taxRate"] == {"name": "VAT standard", "percentage": "20"}
    # A free-string tax id that names no rate of the account: accepted, no taxRate.
    other = _grant(api, customer, "1.00", taxRateId="txr_elsewhere")
    assert other["taxRate"] is None


def test_tax_rate_bad_input_names_the_field(api):
    for body, field in (({"name": "x", "percentage": "101"}, "percentage"),
                        ({"name": "x", "percentage": "-1"}, "percentage"),
                        ({"name": "x", "percentage": 20}, "percentage"),
                        ({"name": "", "percentage": "5"}, "name"),
                        ({"name": "x", "percentage": "5", "colour": "red"}, "colour")):
        r = api("POST", "/tax-rates", json=body)
        assert r.status_code == 400, (body, r.text)
        assert field in r.text, (body, r.text)
    assert api("PATCH", "/tax-rates/txr_nope", json={"name": "y"}).status_code == 404
