"""End-to-end HTTP tests of the apply engine (issue 4): applying credits to invoices, the burn-down
order, preview, settle, release, exactly-once and contention, through the local stack."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import requests

from tests.e2e.helpers import (
    TIMESTAMP,
    D,
    assert_error,
    cash,
    create,
    day,
    get,
    new_customer,
    new_invoice,
    transactions,
    usage,
)

APPLICATION_FIELDS = {
    "invoiceId", "customerId", "currency", "status", "subtotal", "creditsApplied", "totalDue", "lines",
    "allocations", "createdAt", "updatedAt", "actor",
}
LINE_FIELDS = {"lineId", "amount", "creditsApplied", "amountDue"}
ALLOCATION_FIELDS = {"grantId", "type", "lineId", "units", "value"}


# ---------------------------------------------------------------- helpers


def app_body(customer: str, lines: list[dict[str, Any]], currency: str = "USD", **extra: Any) -> dict[str, Any]:
    return {"invoiceId": new_invoice(), "customerId": customer, "currency": currency, "lines": lines, **extra}


def amount_line(amount: str, line_id: str = "l1", **extra: Any) -> dict[str, Any]:
    return {"lineId": line_id, "amount": amount, **extra}


def post_app(api: Any, body: dict[str, Any], key: str = "key_a", status: int = 201) -> dict[str, Any]:
    response = api("POST", "/credit-applications", key=key, json=body)
    assert response.status_code == status, response.text
    application = response.json()
    assert_application_shape(application)
    return application


def preview(api: Any, body: dict[str, Any]) -> dict[str, Any]:
    response = api("POST", "/credit-applications/preview", json=body)
    assert response.status_code == 200, response.text
    application = response.json()
    assert_application_shape(application)
    assert application["status"] == "PREVIEW"
    return application


def assert_application_shape(app: dict[str, Any]) -> None:
    assert set(app) == APPLICATION_FIELDS, set(app) ^ APPLICATION_FIELDS
    assert app["status"] in ("PENDING", "SETTLED", "RELEASED", "PREVIEW")
    for field in ("subtotal", "creditsApplied", "totalDue"):
        D(app[field])
    assert D(app["totalDue"]) == D(app["subtotal"]) - D(app["creditsApplied"])
    assert D(app["totalDue"]) >= 0
    for field in ("createdAt", "updatedAt"):
        assert TIMESTAMP.match(app[field]), app[field]
    for line in app["lines"]:
        assert set(line) == LINE_FIELDS, line
        for field in ("amount", "creditsApplied", "amountDue"):
            D(line[field])
        assert D(line["amountDue"]) == D(line["amount"]) - D(line["creditsApplied"]) >= 0
    assert sum((D(line["amount"]) for line in app["lines"]), Decimal(0)) == D(app["subtotal"])
    assert sum((D(line["creditsApplied"]) for line in app["lines"]), Decimal(0)) == D(app["creditsApplied"])
    for alloc in app["allocations"]:
        assert set(alloc) == ALLOCATION_FIELDS, alloc
        assert alloc["type"] in ("CASH", "USAGE")
        D(alloc["value"])
        if alloc["type"] == "CASH":
            assert alloc["units"] is None
        else:
            assert D(alloc["units"]) > 0
    assert sum((D(a["value"]) for a in app["allocations"]), Decimal(0)) == D(app["creditsApplied"])
    for line in app["lines"]:
        on_line = sum((D(a["value"]) for a in app["allocations"] if a["lineId"] == line["lineId"]), Decimal(0))
        assert on_line == D(line["creditsApplied"]), line


def used(app: dict[str, Any]) -> dict[str, Decimal]:
    """grantId → value taken from it."""
    out: dict[str, Decimal] = {}
    for alloc in app["allocations"]:
        out[alloc["grantId"]] = out.get(alloc["grantId"], Decimal(0)) + D(alloc["value"])
    return out


# ---------------------------------------------------------------- the seed example, shape, replay


def test_seed_example_and_exact_shape(api: Any) -> None:
    customer = new_customer()
    g = create(api, cash(customer, amount="50.00"))
    body = app_body(customer, [amount_line("150.00")])
    app = post_app(api, body)
    assert app["invoiceId"] == body["invoiceId"]
    assert app["customerId"] == customer
    assert app["currency"] == "USD"
    assert app["status"] == "PENDING"
    assert (app["subtotal"], app["creditsApplied"], app["totalDue"]) == ("150.00", "50.00", "100.00")
    assert app["lines"] == [{"lineId": "l1", "amount": "150.00", "creditsApplied": "50.00", "amountDue": "100.00"}]
    assert app["allocations"] == [{"grantId": g["id"], "type": "CASH", "lineId": "l1", "units": None, "value": "50.00"}]

    after = get(api, g["id"])
    assert D(after["currentBalance"]) == 0
    assert D(after["pendingAmount"]) == Decimal("50.00")
    assert after["status"] == "DEPLETED"

    # an identical replay: 200, the same body, nothing more consumed
    replay = api("POST", "/credit-applications", json=body)
    assert replay.status_code == 200, replay.text
    assert replay.json() == app
    # a different body with the same invoiceId: 409
    different = api("POST", "/credit-applications", json={**body, "lines": [amount_line("149.00")]})
    assert_error(different, 409, "conflict", strict=False)
    different = api("POST", "/credit-applications", json={**body, "settle": True})
    assert_error(different, 409, "conflict", strict=False)
    assert [e["type"] for e in transactions(api, customer)] == ["GRANTED", "APPLIED"]

    stored = api("GET", f"/credit-applications/{body['invoiceId']}")
    assert stored.status_code == 200
    assert stored.json() == app


def test_replay_after_a_top_up_still_consumes_nothing(api: Any) -> None:
    customer = new_customer()
    create(api, cash(customer, amount="5.00"))
    body = app_body(customer, [amount_line("20.00")])
    first = post_app(api, body)
    top_up = create(api, cash(customer, amount="100.00"))
    replay = api("POST", "/credit-applications", json=body)
    assert replay.status_code == 200
    assert replay.json() == first
    assert D(get(api, top_up["id"])["currentBalance"]) == Decimal("100.00")


def test_application_with_no_credit(api: Any) -> None:
    app = post_app(api, app_body(new_customer(), [amount_line("12.00"), amount_line("3.00", "l2")]))
    assert (app["subtotal"], app["creditsApplied"], app["totalDue"]) == ("15.00", "0.00", "15.00")
    assert app["allocations"] == []


def test_credit_larger_than_invoice_never_goes_negative(api: Any) -> None:
    customer = new_customer()
    g = create(api, cash(customer, amount="100.00"))
    app = post_app(api, app_body(customer, [amount_line("30.00")]))
    assert (app["creditsApplied"], app["totalDue"]) == ("30.00", "0.00")
    assert D(get(api, g["id"])["currentBalance"]) == Decimal("70.00")


def test_unknown_invoice_is_404(api: Any) -> None:
    assert_error(api("GET", "/credit-applications/inv_nope"), 404, "not_found", strict=False)
    assert_error(api("POST", "/credit-applications/inv_nope/settle"), 404, "not_found", strict=False)
    assert_error(api("POST", "/credit-applications/inv_nope/release"), 404, "not_found", strict=False)


def test_another_accounts_invoice_is_404(api: Any) -> None:
    customer = new_customer()
    create(api, cash(customer, amount="10.00"))
    body = app_body(customer, [amount_line("4.00")])
    app = post_app(api, body)
    assert_error(api("GET", f"/credit-applications/{body['invoiceId']}", key="key_b"), 404, "not_found", strict=False)
    assert_error(api("POST", f"/credit-applications/{body['invoiceId']}/settle", key="key_b"), 404, "not_found", strict=False)
    assert_error(api("POST", f"/credit-applications/{body['invoiceId']}/release", key="key_b"), 404, "not_found", strict=False)
    assert api("GET", f"/credit-applications/{body['invoiceId']}").json() == app
    # the same invoiceId in the other account is its own application, and cannot reach acct_a's grants
    theirs = post_app(api, body, key="key_b")
    assert D(theirs["creditsApplied"]) == 0
    assert theirs["allocations"] == []


# ---------------------------------------------------------------- burn-down order


def test_unit_credits_before_cash(api: Any) -> None:
    customer = new_customer()
    cash_grant = create(api, cash(customer, amount="100.00", priority=0))
    units = create(api, usage(customer, amount="1000", metric="api_calls", priority=100))
    app = post_app(api, app_body(customer, [
        {"lineId": "l1", "metricId": "api_calls", "quantity": "1500", "unitPrice": "0.01"},
        amount_line("20.00", "l2"),
    ]))
    assert app["subtotal"] == "35.00"
    assert app["creditsApplied"] == "35.00"
    assert app["totalDue"] == "0.00"
    allocations = sorted(app["allocations"], key=lambda a: (a["lineId"], a["type"]))
    assert [(a["grantId"], a["type"], a["lineId"], a["units"] and D(a["units"]), D(a["value"])) for a in allocations] == [
        (cash_grant["id"], "CASH", "l1", None, Decimal("5.00")),
        (units["id"], "USAGE", "l1", Decimal(1000), Decimal("10.00")),
        (cash_grant["id"], "CASH", "l2", None, Decimal("20.00")),
    ]
    assert D(get(api, units["id"])["currentBalance"]) == 0
    assert D(get(api, units["id"])["pendingAmount"]) == Decimal(1000)
    assert D(get(api, cash_grant["id"])["currentBalance"]) == Decimal("75.00")


def test_unit_credits_cover_only_usage_lines_of_their_metric(api: Any) -> None:
    customer = new_customer()
    units = create(api, usage(customer, amount="100", metric="api_calls"))
    app = preview(api, app_body(customer, [
        {"lineId": "l1", "metricId": "storage_gb", "quantity": "10", "unitPrice": "1"},
        amount_line("5.00", "l2", metricId="api_calls"),  # an amount line is not a usage line
    ]))
    assert app["allocations"] == []
    app = preview(api, app_body(customer, [{"lineId": "l1", "metricId": "api_calls", "quantity": "2.5", "unitPrice": "2"}]))
    assert app["lines"][0]["amount"] == "5.00"
    assert [(a["grantId"], D(a["units"]), a["value"]) for a in app["allocations"]] == [(units["id"], Decimal("2.5"), "5.00")]


def test_fractional_units_and_rounding_of_covered_value(api: Any) -> None:
    customer = new_customer()
    create(api, usage(customer, amount="1", metric="api_calls"))
    app = preview(api, app_body(customer, [{"lineId": "l1", "metricId": "api_calls", "quantity": "3", "unitPrice": "0.125"}]))
    # line amount = 0.375 → 0.38 (half-even); one unit covered = 0.125 → at most the line
    assert app["lines"][0]["amount"] == "0.38"
    assert D(app["creditsApplied"]) <= Decimal("0.38")
    assert D(app["allocations"][0]["units"]) == 1


def test_priority_before_expiry(api: Any) -> None:
    customer = new_customer()
    later_but_first = create(api, cash(customer, amount="10.00", priority=10))  # never expires
    soon = create(api, cash(customer, amount="10.00", priority=50, expiryDate=day(1)))
    app = post_app(api, app_body(customer, [amount_line("10.00")]))
    assert used(app) == {later_but_first["id"]: Decimal("10.00")}
    assert D(get(api, soon["id"])["currentBalance"]) == Decimal("10.00")


def test_soonest_expiry_first_and_never_expiring_last(api: Any) -> None:
    customer = new_customer()
    never = create(api, cash(customer, amount="10.00"))
    in_30 = create(api, cash(customer, amount="10.00", expiryDate=day(30)))
    in_10 = create(api, cash(customer, amount="10.00", expiryDate=day(10)))
    in_10_noon = create(api, cash(customer, amount="10.00", expiresAt=f"{day(10)}T12:00:00Z"))
    app = preview(api, app_body(customer, [amount_line("25.00")]))
    # expiresAt: in_10_noon (day 10 12:00) < in_10 (day 11 00:00) < in_30 < never
    assert [a["grantId"] for a in app["allocations"]] == [in_10_noon["id"], in_10["id"], in_30["id"]]
    assert used(app) == {in_10_noon["id"]: Decimal("10.00"), in_10["id"]: Decimal("10.00"), in_30["id"]: Decimal("5.00")}
    app = preview(api, app_body(customer, [amount_line("35.00")]))
    assert app["allocations"][-1]["grantId"] == never["id"]
    assert used(app)[never["id"]] == Decimal("5.00")


def test_promotional_before_paid(api: Any) -> None:
    customer = new_customer()
    paid = create(api, cash(customer, amount="10.00", expiryDate=day(20)))
    promo = create(api, cash(customer, amount="10.00", expiryDate=day(20), category="PROMOTIONAL"))
    app = preview(api, app_body(customer, [amount_line("12.00")]))
    assert [a["grantId"] for a in app["allocations"]] == [promo["id"], paid["id"]]
    assert used(app) == {promo["id"]: Decimal("10.00"), paid["id"]: Decimal("2.00")}


def test_then_effective_at_then_created_at(api: Any) -> None:
    customer = new_customer()
    later_effective = create(api, cash(customer, amount="10.00", effectiveAt="2026-02-01T00:00:00Z"))
    earlier_effective = create(api, cash(customer, amount="10.00", effectiveAt="2026-01-01T00:00:00Z"))
    app = preview(api, app_body(customer, [amount_line("15.00")]))
    assert [a["grantId"] for a in app["allocations"]] == [earlier_effective["id"], later_effective["id"]]
    # same effectiveAt: created first is taken first
    customer = new_customer()
    first = create(api, cash(customer, amount="10.00", effectiveAt="2026-01-01T00:00:00Z"))
    second = create(api, cash(customer, amount="10.00", effectiveAt="2026-01-01T00:00:00Z"))
    app = preview(api, app_body(customer, [amount_line("15.00")]))
    assert [a["grantId"] for a in app["allocations"]] == [first["id"], second["id"]]


def test_order_applies_within_usage_grants_too(api: Any) -> None:
    customer = new_customer()
    late = create(api, usage(customer, amount="100", metric="m", expiryDate=day(50)))
    soon = create(api, usage(customer, amount="100", metric="m", expiryDate=day(5)))
    low = create(api, usage(customer, amount="100", metric="m", priority=1))
    app = preview(api, app_body(customer, [{"lineId": "l1", "metricId": "m", "quantity": "250", "unitPrice": "0.01"}]))
    assert [(a["grantId"], D(a["units"])) for a in app["allocations"]] == [(low["id"], 100), (soon["id"], 100), (late["id"], 50)]
    assert app["creditsApplied"] == "2.50"


def test_applicability_restricts_lines(api: Any) -> None:
    customer = new_customer()
    storage_only = create(api, cash(customer, amount="100.00", priority=0, applicability={"metricIds": ["storage_gb"]}))
    app = post_app(api, app_body(customer, [
        amount_line("10.00", "l1", metricId="api_calls"),
        amount_line("5.00", "l2", metricId="storage_gb"),
        amount_line("7.00", "l3"),
        {"lineId": "l4", "metricId": "storage_gb", "quantity": "10", "unitPrice": "0.3"},
    ]))
    assert {(a["grantId"], a["lineId"], a["value"]) for a in app["allocations"]} == {
        (storage_only["id"], "l2", "5.00"),
        (storage_only["id"], "l4", "3.00"),
    }
    assert app["creditsApplied"] == "8.00"
    assert app["totalDue"] == "17.00"
    # an unrestricted grant takes what the restricted one may not
    customer2 = new_customer()
    restricted = create(api, cash(customer2, amount="100.00", priority=0, applicability={"metricIds": ["storage_gb"]}))
    anything = create(api, cash(customer2, amount="100.00", priority=90))
    app = preview(api, app_body(customer2, [amount_line("10.00", "l1", metricId="api_calls"), amount_line("5.00", "l2", metricId="storage_gb")]))
    assert {(a["grantId"], a["lineId"], a["value"]) for a in app["allocations"]} == {
        (restricted["id"], "l2", "5.00"),
        (anything["id"], "l1", "10.00"),
    }


def test_currency_mismatch(api: Any) -> None:
    customer = new_customer()
    eur = create(api, cash(customer, amount="100.00", currency="EUR"))
    app = post_app(api, app_body(customer, [amount_line("10.00")]))
    assert app["creditsApplied"] == "0.00" and app["allocations"] == []
    assert D(get(api, eur["id"])["currentBalance"]) == Decimal("100.00")
    app = post_app(api, app_body(customer, [amount_line("10.00")], currency="EUR"))
    assert used(app) == {eur["id"]: Decimal("10.00")}


def test_jpy_invoice(api: Any) -> None:
    customer = new_customer()
    g = create(api, cash(customer, amount="500", currency="JPY"))
    app = post_app(api, app_body(customer, [{"lineId": "l1", "metricId": "m", "quantity": "3", "unitPrice": "333.5"}], currency="JPY"))
    # 1000.5 → 1000 (half-even to 0 digits)
    assert (app["subtotal"], app["creditsApplied"], app["totalDue"]) == ("1000", "500", "500")
    assert app["allocations"][0]["value"] == "500"
    assert get(api, g["id"])["currentBalance"] == "0"


def test_usage_line_amount_is_rounded_half_even(api: Any) -> None:
    customer = new_customer()
    cases = [
        ("1", "0.125", "0.12"),
        ("1", "0.135", "0.14"),
        ("1", "0.145", "0.14"),
        ("3", "0.125", "0.38"),
        ("12000", "0.000125", "1.50"),
        ("0.000001", "0.000000000001", "0.00"),
        ("7", "0.0005", "0.00"),   # 0.0035 → 0.00
        ("1000000", "0.000000012345", "0.01"),
        ("2.5", "0.01", "0.02"),  # 0.025 → 0.02
    ]
    lines = [{"lineId": f"l{i}", "metricId": "api_calls", "quantity": q, "unitPrice": p} for i, (q, p, _) in enumerate(cases)]
    app = preview(api, app_body(customer, lines))
    assert [line["amount"] for line in app["lines"]] == [c[2] for c in cases]
    assert app["subtotal"] == str(sum(Decimal(c[2]) for c in cases))


# ---------------------------------------------------------------- preview, get


def test_preview_writes_nothing(api: Any) -> None:
    customer = new_customer()
    g = create(api, cash(customer, amount="50.00"))
    body = app_body(customer, [amount_line("150.00")])
    app = preview(api, body)
    assert (app["subtotal"], app["creditsApplied"], app["totalDue"]) == ("150.00", "50.00", "100.00")
    assert app["allocations"] == [{"grantId": g["id"], "type": "CASH", "lineId": "l1", "units": None, "value": "50.00"}]
    assert get(api, g["id"]) == g
    assert [e["type"] for e in transactions(api, customer)] == ["GRANTED"]
    assert_error(api("GET", f"/credit-applications/{body['invoiceId']}"), 404, "not_found", strict=False)
    # the invoiceId is still free, and a preview of an existing invoice does not change it
    real = post_app(api, body)
    assert real["status"] == "PENDING"
    again = preview(api, body)
    assert again["status"] == "PREVIEW"
    assert api("GET", f"/credit-applications/{body['invoiceId']}").json() == real


# ---------------------------------------------------------------- settle, release


def test_settle(api: Any) -> None:
    customer = new_customer()
    a = create(api, cash(customer, amount="10.00"))
    b = create(api, cash(customer, amount="10.00", priority=60))
    body = app_body(customer, [amount_line("15.00")])
    app = post_app(api, body)
    response = api("POST", f"/credit-applications/{body['invoiceId']}/settle")
    assert response.status_code == 200, response.text
    settled = response.json()
    assert_application_shape(settled)
    assert settled["status"] == "SETTLED"
    assert (settled["creditsApplied"], settled["allocations"], settled["lines"]) == (app["creditsApplied"], app["allocations"], app["lines"])
    ga, gb = get(api, a["id"]), get(api, b["id"])
    assert (D(ga["currentBalance"]), D(ga["pendingAmount"])) == (0, 0)
    assert (D(gb["currentBalance"]), D(gb["pendingAmount"])) == (Decimal("5.00"), 0)
    entries = transactions(api, customer, type="SETTLED")
    assert {(e["grantId"], D(e["amount"]), e["invoiceId"]) for e in entries} == {
        (a["id"], Decimal("10.00"), body["invoiceId"]),
        (b["id"], Decimal("5.00"), body["invoiceId"]),
    }
    # settling twice is a no-op
    again = api("POST", f"/credit-applications/{body['invoiceId']}/settle")
    assert again.status_code == 200
    assert again.json() == settled
    assert len(transactions(api, customer)) == 6
    assert api("GET", f"/credit-applications/{body['invoiceId']}").json() == settled


def test_settle_true_settles_at_once(api: Any) -> None:
    customer = new_customer()
    g = create(api, cash(customer, amount="10.00"))
    app = post_app(api, app_body(customer, [amount_line("4.00")], settle=True))
    assert app["status"] == "SETTLED"
    after = get(api, g["id"])
    assert (D(after["currentBalance"]), D(after["pendingAmount"])) == (Decimal("6.00"), 0)
    assert [e["type"] for e in transactions(api, customer)] == ["GRANTED", "APPLIED", "SETTLED"]


def test_release_pending(api: Any) -> None:
    customer = new_customer()
    g = create(api, cash(customer, amount="10.00"))
    u = create(api, usage(customer, amount="100", metric="m"))
    body = app_body(customer, [amount_line("4.00"), {"lineId": "l2", "metricId": "m", "quantity": "30", "unitPrice": "0.5"}])
    post_app(api, body)
    response = api("POST", f"/credit-applications/{body['invoiceId']}/release")
    assert response.status_code == 200, response.text
    released = response.json()
    assert_application_shape(released)
    assert released["status"] == "RELEASED"
    assert get(api, g["id"])["currentBalance"] == "10.00" and D(get(api, g["id"])["pendingAmount"]) == 0
    assert D(get(api, u["id"])["currentBalance"]) == 100 and D(get(api, u["id"])["pendingAmount"]) == 0
    entries = transactions(api, customer, type="RELEASED")
    assert {(e["grantId"], D(e["amount"]), D(e["balanceAfter"])) for e in entries} == {
        (g["id"], Decimal("4.00"), Decimal("10.00")),
        (u["id"], Decimal(30), Decimal(100)),
    }
    count = len(transactions(api, customer))
    again = api("POST", f"/credit-applications/{body['invoiceId']}/release")
    assert again.status_code == 200 and again.json() == released
    assert len(transactions(api, customer)) == count
    # a released application cannot be settled any more (it stays RELEASED)
    settle = api("POST", f"/credit-applications/{body['invoiceId']}/settle")
    assert settle.status_code in (200, 409)
    assert api("GET", f"/credit-applications/{body['invoiceId']}").json()["status"] == "RELEASED"
    assert len(transactions(api, customer)) == count


def test_release_after_settle(api: Any) -> None:
    customer = new_customer()
    g = create(api, cash(customer, amount="10.00"))
    body = app_body(customer, [amount_line("4.00")], settle=True)
    post_app(api, body)
    response = api("POST", f"/credit-applications/{body['invoiceId']}/release")
    assert response.status_code == 200
    assert response.json()["status"] == "RELEASED"
    after = get(api, g["id"])
    assert (after["currentBalance"], D(after["pendingAmount"])) == ("10.00", 0)


def test_release_to_a_voided_grant_goes_on_to_voided(api: Any) -> None:
    customer = new_customer()
    g = create(api, cash(customer, amount="10.00"))
    body = app_body(customer, [amount_line("4.00")])
    post_app(api, body)
    assert api("POST", f"/credit-grants/{g['id']}/void", json={"reason": "closed"}).status_code == 200
    response = api("POST", f"/credit-applications/{body['invoiceId']}/release")
    assert response.status_code == 200, response.text
    after = get(api, g["id"])
    assert after["status"] == "VOIDED"
    assert D(after["currentBalance"]) == 0 and D(after["pendingAmount"]) == 0
    entries = transactions(api, customer, grantId=g["id"])
    assert [e["type"] for e in entries] == ["GRANTED", "APPLIED", "VOIDED", "RELEASED", "VOIDED"]
    assert [D(e["amount"]) for e in entries] == [Decimal("10.00"), Decimal("4.00"), Decimal("6.00"), Decimal("4.00"), Decimal("4.00")]
    assert D(entries[-1]["balanceAfter"]) == 0
    again = api("POST", f"/credit-applications/{body['invoiceId']}/release")
    assert again.status_code == 200
    assert len(transactions(api, customer, grantId=g["id"])) == 5
    # the customer's balance shows nothing of it
    rows = api("GET", f"/customers/{customer}/credit-balance").json()["balances"]
    assert all(D(r["available"]) == 0 for r in rows)


# ---------------------------------------------------------------- contention


def test_twenty_concurrent_applications_against_one_grant(api: Any, stack: Any) -> None:
    for _round in range(2):
        customer = new_customer()
        g = create(api, cash(customer, amount="10.00"))
        barrier = threading.Barrier(20)

        def one(_: int) -> requests.Response | Exception:
            with requests.Session() as session:
                body = app_body(customer, [amount_line("1.00")])
                barrier.wait()
                try:
                    return session.post(
                        stack.api_url + "/credit-applications",
                        json=body,
                        headers={"Authorization": "Bearer key_a"},
                        timeout=60,
                    )
                except requests.ConnectionError as exc:
                    return exc

        with ThreadPoolExecutor(max_workers=20) as pool:
            results = list(pool.map(one, range(20)))
        responses = [r for r in results if isinstance(r, requests.Response)]
        failures = [r for r in results if not isinstance(r, requests.Response)]
        ok = [r for r in responses if r.status_code in (200, 201)]
        # whatever happened, money is never created nor lost
        taken = sum((D(r.json()["creditsApplied"]) for r in ok), Decimal(0))
        after = get(api, g["id"])
        applied = transactions(api, customer, type="APPLIED")
        assert sum((D(e["amount"]) for e in applied), Decimal(0)) == taken == Decimal("10.00") - D(after["currentBalance"])
        # and the contract: every request answered 201 (a first application), exactly 10.00 applied
        assert not failures, f"{len(failures)} of 20 concurrent requests failed at the connection level: {failures[0]!r}"
        statuses = [r.status_code for r in responses]
        assert all(s == 201 for s in statuses), statuses
        assert taken == Decimal("10.00")
        assert sorted(r.json()["creditsApplied"] for r in responses) == ["0.00"] * 10 + ["1.00"] * 10
        assert D(after["currentBalance"]) == 0
        assert D(after["pendingAmount"]) == Decimal("10.00")
        assert len(applied) == 10
        assert sorted(D(e["balanceAfter"]) for e in applied) == [Decimal(i) for i in range(10)]


def test_concurrent_replays_of_one_invoice_apply_once(api: Any, stack: Any) -> None:
    customer = new_customer()
    g = create(api, cash(customer, amount="10.00"))
    body = app_body(customer, [amount_line("3.00")])
    barrier = threading.Barrier(8)

    def one(_: int) -> requests.Response:
        with requests.Session() as session:
            barrier.wait()
            return session.post(stack.api_url + "/credit-applications", json=body, headers={"Authorization": "Bearer key_a"}, timeout=60)

    with ThreadPoolExecutor(max_workers=8) as pool:
        responses = list(pool.map(one, range(8)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses.count(201) == 1, statuses
    assert set(statuses) <= {200, 201, 409}, statuses
    assert D(get(api, g["id"])["currentBalance"]) == Decimal("7.00")
    assert len(transactions(api, customer, type="APPLIED")) == 1
