"""End-to-end HTTP tests of the grant lifecycle and the ledger (issue 3): patch, void, delete,
balances, transactions and the ledger invariant, through the local stack."""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from tests.e2e.helpers import (
    D,
    assert_error,
    cash,
    create,
    day,
    get,
    iso,
    new_customer,
    new_invoice,
    transactions,
    ts,
    usage,
)

ENTRY_FIELDS = {"id", "grantId", "customerId", "type", "amount", "balanceAfter", "invoiceId", "lineId", "reason",
                "createdAt", "actor"}
BALANCE_ROW_FIELDS = {"type", "currency", "metricId", "available", "pending", "expiringSoon", "grantCount"}


# ---------------------------------------------------------------- helpers


def apply(api: Any, customer: str, amount: str, invoice: str | None = None, currency: str = "USD", **extra: Any) -> dict[str, Any]:
    body = {
        "invoiceId": invoice or new_invoice(),
        "customerId": customer,
        "currency": currency,
        "lines": [{"lineId": "l1", "amount": amount}],
        **extra,
    }
    response = api("POST", "/credit-applications", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def void(api: Any, grant_id: str, reason: str = "customer churned") -> Any:
    return api("POST", f"/credit-grants/{grant_id}/void", json={"reason": reason})


def balance(api: Any, customer: str, **params: Any) -> dict[tuple[str, str | None], dict[str, Any]]:
    response = api("GET", f"/customers/{customer}/credit-balance", params=params)
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"customerId", "asOf", "balances"}, body
    assert body["customerId"] == customer
    ts(body["asOf"])
    rows: dict[tuple[str, str | None], dict[str, Any]] = {}
    for row in body["balances"]:
        assert set(row) == BALANCE_ROW_FIELDS, row
        for field in ("available", "pending", "expiringSoon"):
            D(row[field])
        assert isinstance(row["grantCount"], int)
        key = (row["type"], row["currency"] if row["type"] == "CASH" else row["metricId"])
        assert key not in rows, f"two rows for {key}"
        rows[key] = row
    return rows


def preview_5(api: Any, customer: str) -> dict[str, Any]:
    """The body of a USD preview of a fresh invoice with one 5.00 line (status not checked)."""
    body = {"invoiceId": new_invoice(), "customerId": customer, "currency": "USD", "lines": [{"lineId": "l1", "amount": "5.00"}]}
    return api("POST", "/credit-applications/preview", json=body).json()


SIGN = {"GRANTED": 1, "APPLIED": -1, "RELEASED": 1, "EXPIRED": -1, "VOIDED": -1}


def check_ledger(api: Any, customer: str, grants: list[dict[str, Any]]) -> None:
    """For each grant: original − applied + released − expired − voided = currentBalance, every
    entry's balanceAfter the running balance, and pendingAmount = what PENDING applications hold."""
    entries = transactions(api, customer)
    for entry in entries:
        assert set(entry) == ENTRY_FIELDS, entry
        ts(entry["createdAt"])
        if entry["type"] in SIGN:
            assert D(entry["amount"]) > 0, entry
    for g in grants:
        current = get(api, g["id"])
        mine = [e for e in entries if e["grantId"] == g["id"]]
        assert mine and mine[0]["type"] == "GRANTED", mine
        running = Decimal(0)
        for entry in mine:
            running += SIGN.get(entry["type"], 0) * D(entry["amount"])
            assert D(entry["balanceAfter"]) == running, (entry, running)
        totals = {t: sum((D(e["amount"]) for e in mine if e["type"] == t), Decimal(0)) for t in SIGN}
        assert totals["GRANTED"] == D(current["originalAmount"])
        derived = totals["GRANTED"] - totals["APPLIED"] + totals["RELEASED"] - totals["EXPIRED"] - totals["VOIDED"]
        assert derived == D(current["currentBalance"]), (current, totals)


# ---------------------------------------------------------------- PATCH


def test_patch_name_metadata_priority(api: Any) -> None:
    g = create(api, cash(new_customer(), metadata={"a": "1"}))
    time.sleep(1.01)  # so that updatedAt (second resolution) can move
    response = api("PATCH", f"/credit-grants/{g['id']}", json={"name": "Renamed", "metadata": {"b": "2"}, "priority": 7})
    assert response.status_code == 200, response.text
    patched = response.json()
    assert patched["name"] == "Renamed"
    assert patched["metadata"] == {"b": "2"}
    assert patched["priority"] == 7
    assert ts(patched["updatedAt"]) > ts(g["updatedAt"])
    for field in ("originalAmount", "currentBalance", "expiresAt", "createdAt", "customerId", "type", "currency", "costOfCredit"):
        assert patched[field] == g[field], field
    assert get(api, g["id"]) == patched
    # an unchanged expiry writes no EXPIRY_CHANGED entry
    assert [e["type"] for e in transactions(api, g["customerId"], grantId=g["id"])] == ["GRANTED"]


def test_patch_expiry_writes_expiry_changed_and_null_means_never(api: Any) -> None:
    customer = new_customer()
    g = create(api, cash(customer, expiryDate=day(30)))
    response = api("PATCH", f"/credit-grants/{g['id']}", json={"expiryDate": day(60)})
    assert response.status_code == 200, response.text
    patched = response.json()
    assert patched["expiryDate"] == day(60)
    assert patched["expiresAt"] == f"{day(61)}T00:00:00Z"

    response = api("PATCH", f"/credit-grants/{g['id']}", json={"expiresAt": f"{day(90)}T12:00:00Z"})
    assert response.status_code == 200, response.text
    assert response.json()["expiresAt"] == f"{day(90)}T12:00:00Z"
    assert response.json()["expiryDate"] == day(90)

    response = api("PATCH", f"/credit-grants/{g['id']}", json={"expiryDate": None})
    assert response.status_code == 200, response.text
    never = response.json()
    assert never["expiresAt"] is None and never["expiryDate"] is None
    assert never["status"] == "ACTIVE"

    response = api("PATCH", f"/credit-grants/{g['id']}", json={"expiresAt": f"{day(10)}T00:00:00Z"})
    assert response.status_code == 200, response.text
    response = api("PATCH", f"/credit-grants/{g['id']}", json={"expiresAt": None})
    assert response.status_code == 200 and response.json()["expiresAt"] is None

    entries = transactions(api, customer, grantId=g["id"])
    assert [e["type"] for e in entries] == ["GRANTED"] + ["EXPIRY_CHANGED"] * 5
    assert all(D(e["balanceAfter"]) == Decimal("10.00") for e in entries)
    assert [e["type"] for e in transactions(api, customer, type="EXPIRY_CHANGED")] == ["EXPIRY_CHANGED"] * 5


def test_patch_expiry_to_the_past_is_400(api: Any) -> None:
    g = create(api, cash(new_customer(), expiryDate=day(30)))
    for body in ({"expiryDate": day(-1)}, {"expiresAt": iso(datetime.now(UTC) - timedelta(seconds=30))}):
        assert_error(api("PATCH", f"/credit-grants/{g['id']}", json=body), 400, "validation_error", strict=False)
    assert get(api, g["id"])["expiryDate"] == day(30)


def test_patch_expiry_before_effective_is_400(api: Any) -> None:
    g = create(api, cash(new_customer(), effectiveDate=day(20)))
    assert_error(api("PATCH", f"/credit-grants/{g['id']}", json={"expiryDate": day(10)}), 400, "validation_error", strict=False)


def test_patch_voided_grant_is_409(api: Any) -> None:
    g = create(api, cash(new_customer()))
    assert void(api, g["id"]).status_code == 200
    for body in ({"name": "x"}, {"priority": 1}, {"expiryDate": day(5)}, {"metadata": {}}):
        assert_error(api("PATCH", f"/credit-grants/{g['id']}", json=body), 409, "conflict", strict=False)


def test_patch_unknown_grant_is_404(api: Any) -> None:
    assert_error(api("PATCH", "/credit-grants/cg_nope", json={"name": "x"}), 404, "not_found", strict=False)


# ---------------------------------------------------------------- void


def test_void_requires_a_reason(api: Any) -> None:
    g = create(api, cash(new_customer()))
    for kwargs in ({}, {"json": {}}, {"json": {"reason": ""}}, {"json": {"reason": "r" * 501}}):
        assert_error(api("POST", f"/credit-grants/{g['id']}/void", **kwargs), 400, "validation_error", strict=False)
    assert get(api, g["id"])["status"] == "ACTIVE"


def test_void_removes_exactly_the_remaining_balance_and_keeps_pending(api: Any) -> None:
    customer = new_customer()
    g = create(api, cash(customer, amount="10.00"))
    app = apply(api, customer, "3.50")
    assert D(app["creditsApplied"]) == Decimal("3.50")
    response = void(api, g["id"], "fraud")
    assert response.status_code == 200, response.text
    voided = response.json()
    assert voided["status"] == "VOIDED"
    assert D(voided["currentBalance"]) == 0
    assert D(voided["pendingAmount"]) == Decimal("3.50")
    assert voided["voidReason"] == "fraud"
    ts(voided["voidedAt"])
    entries = transactions(api, customer, grantId=g["id"])
    assert [e["type"] for e in entries] == ["GRANTED", "APPLIED", "VOIDED"]
    assert D(entries[2]["amount"]) == Decimal("6.50")
    assert D(entries[2]["balanceAfter"]) == 0
    # the pending application stays applied
    stored = api("GET", f"/credit-applications/{app['invoiceId']}").json()
    assert stored["status"] == "PENDING" and D(stored["creditsApplied"]) == Decimal("3.50")
    # void twice: same grant, 200, no second entry
    again = void(api, g["id"], "another reason")
    assert again.status_code == 200
    assert again.json() == voided
    assert len(transactions(api, customer, grantId=g["id"])) == 3
    # settle still works on a voided grant's pending amount
    settled = api("POST", f"/credit-applications/{app['invoiceId']}/settle")
    assert settled.status_code == 200, settled.text
    after = get(api, g["id"])
    assert D(after["pendingAmount"]) == 0 and D(after["currentBalance"]) == 0 and after["status"] == "VOIDED"
    check_ledger(api, customer, [g])


def test_void_of_a_depleted_grant(api: Any) -> None:
    customer = new_customer()
    g = create(api, cash(customer, amount="5.00"))
    apply(api, customer, "5.00", settle=True)
    assert get(api, g["id"])["status"] == "DEPLETED"
    response = void(api, g["id"])
    assert response.status_code == 200
    assert response.json()["status"] == "VOIDED"
    types = [e["type"] for e in transactions(api, customer, grantId=g["id"])]
    assert types.count("VOIDED") <= 1
    for e in transactions(api, customer, grantId=g["id"], type="VOIDED"):
        assert D(e["amount"]) > 0  # amount is positive: no zero-amount VOIDED entry
    check_ledger(api, customer, [g])


def test_void_unknown_grant_is_404(api: Any) -> None:
    assert_error(void(api, "cg_nope"), 404, "not_found", strict=False)


# ---------------------------------------------------------------- delete


def test_delete(api: Any) -> None:
    customer = new_customer()
    keep = create(api, cash(customer))
    g = create(api, cash(customer, amount="4.00"))
    response = api("DELETE", f"/credit-grants/{g['id']}")
    assert response.status_code == 204, response.text
    assert response.content == b""
    assert_error(api("GET", f"/credit-grants/{g['id']}"), 404, "not_found", strict=False)
    listed = api("GET", "/credit-grants", params={"customerId": customer}).json()
    assert [x["id"] for x in listed["items"]] == [keep["id"]]
    assert listed["pagination"]["totalResultSize"] == 1
    entries = transactions(api, customer, grantId=g["id"])
    assert [e["type"] for e in entries] == ["GRANTED", "DELETED"]
    assert [e["type"] for e in transactions(api, customer, type="DELETED")] == ["DELETED"]
    # it counts in no balance
    rows = balance(api, customer)
    assert D(rows[("CASH", "USD")]["available"]) == Decimal("10.00")
    assert rows[("CASH", "USD")]["grantCount"] == 1
    # and cannot be deleted, voided or patched again
    assert_error(api("DELETE", f"/credit-grants/{g['id']}"), 404, "not_found", strict=False)
    assert_error(void(api, g["id"]), 404, "not_found", strict=False)
    assert_error(api("PATCH", f"/credit-grants/{g['id']}", json={"name": "x"}), 404, "not_found", strict=False)


def test_delete_after_an_application_is_409_saying_to_void(api: Any) -> None:
    customer = new_customer()
    g = create(api, cash(customer))
    app = apply(api, customer, "1.00")
    error = assert_error(api("DELETE", f"/credit-grants/{g['id']}"), 409, "conflict", strict=False)
    assert "void" in error["message"].lower()
    # even once the application is released, something was applied from it once
    assert api("POST", f"/credit-applications/{app['invoiceId']}/release").status_code == 200
    error = assert_error(api("DELETE", f"/credit-grants/{g['id']}"), 409, "conflict", strict=False)
    assert "void" in error["message"].lower()
    assert get(api, g["id"])["status"] == "ACTIVE"


# ---------------------------------------------------------------- other account


def test_another_accounts_grant_is_404_for_patch_void_delete(api: Any) -> None:
    customer = new_customer()
    g = create(api, cash(customer))
    assert_error(api("PATCH", f"/credit-grants/{g['id']}", key="key_b", json={"name": "x"}), 404, "not_found", strict=False)
    assert_error(api("POST", f"/credit-grants/{g['id']}/void", key="key_b", json={"reason": "x"}), 404, "not_found", strict=False)
    assert_error(api("DELETE", f"/credit-grants/{g['id']}", key="key_b"), 404, "not_found", strict=False)
    assert get(api, g["id"]) == g
    assert [e["type"] for e in transactions(api, customer)] == ["GRANTED"]
    # and the other account sees nothing of this customer's ledger or balance
    other = api("GET", f"/customers/{customer}/credit-transactions", key="key_b").json()
    assert other["items"] == []
    other_balance = api("GET", f"/customers/{customer}/credit-balance", key="key_b").json()
    assert other_balance["balances"] == []


# ---------------------------------------------------------------- balance


def test_balance_rows_per_currency_and_metric(api: Any) -> None:
    customer = new_customer()
    usd = create(api, cash(customer, amount="10.00"))
    create(api, cash(customer, amount="5.00", expiryDate=day(10), priority=60))
    create(api, cash(customer, amount="20.00", currency="EUR", expiryDate=day(100)))
    create(api, usage(customer, amount="1000", metric="api_calls"))
    create(api, usage(customer, amount="500", metric="api_calls", expiryDate=day(3)))
    create(api, usage(customer, amount="100.5", metric="storage_gb", currency="USD", costOfCredit="10.00"))
    create(api, cash(customer, amount="7.00", effectiveDate=day(1)))  # SCHEDULED: counts nowhere
    create(api, cash(customer, amount="9.00", currency="GBP", effectiveDate=day(1)))  # SCHEDULED only: no row
    voided = create(api, cash(customer, amount="3.00"))
    assert void(api, voided["id"]).status_code == 200
    deleted = create(api, cash(customer, amount="2.00"))
    assert api("DELETE", f"/credit-grants/{deleted['id']}").status_code == 204
    app = apply(api, customer, "2.00")
    assert [a["grantId"] for a in app["allocations"]] == [usd["id"]]

    rows = balance(api, customer)
    assert set(rows) == {("CASH", "USD"), ("CASH", "EUR"), ("USAGE", "api_calls"), ("USAGE", "storage_gb")}
    r = rows[("CASH", "USD")]
    assert r["metricId"] is None
    assert (D(r["available"]), D(r["pending"]), D(r["expiringSoon"]), r["grantCount"]) == (
        Decimal("13.00"), Decimal("2.00"), Decimal("5.00"), 2
    )
    r = rows[("CASH", "EUR")]
    assert (D(r["available"]), D(r["pending"]), D(r["expiringSoon"]), r["grantCount"]) == (Decimal("20.00"), 0, 0, 1)
    r = rows[("USAGE", "api_calls")]
    assert r["metricId"] == "api_calls"
    assert (D(r["available"]), D(r["pending"]), D(r["expiringSoon"]), r["grantCount"]) == (Decimal(1500), 0, Decimal(500), 2)
    r = rows[("USAGE", "storage_gb")]
    assert (D(r["available"]), r["grantCount"]) == (Decimal("100.5"), 1)

    # the window
    rows = balance(api, customer, expiringWithinDays=5)
    assert D(rows[("CASH", "USD")]["expiringSoon"]) == 0
    assert D(rows[("USAGE", "api_calls")]["expiringSoon"]) == Decimal(500)
    rows = balance(api, customer, expiringWithinDays=365)
    assert D(rows[("CASH", "EUR")]["expiringSoon"]) == Decimal("20.00")
    assert D(rows[("CASH", "USD")]["expiringSoon"]) == Decimal("5.00")
    rows = balance(api, customer, expiringWithinDays=1)
    assert D(rows[("USAGE", "api_calls")]["expiringSoon"]) == 0

    # settling moves pending out; releasing puts it back to available
    assert api("POST", f"/credit-applications/{app['invoiceId']}/settle").status_code == 200
    rows = balance(api, customer)
    assert (D(rows[("CASH", "USD")]["available"]), D(rows[("CASH", "USD")]["pending"])) == (Decimal("13.00"), 0)
    assert api("POST", f"/credit-applications/{app['invoiceId']}/release").status_code == 200
    rows = balance(api, customer)
    assert (D(rows[("CASH", "USD")]["available"]), D(rows[("CASH", "USD")]["pending"])) == (Decimal("15.00"), 0)


def test_balance_of_unknown_customer_is_empty(api: Any) -> None:
    response = api("GET", f"/customers/{new_customer()}/credit-balance")
    assert response.status_code == 200
    assert response.json()["balances"] == []


@pytest.mark.parametrize("days", ["0", "366", "-1", "x"])
def test_balance_window_out_of_bounds_is_400(api: Any, days: str) -> None:
    error = assert_error(api("GET", f"/customers/{new_customer()}/credit-balance", params={"expiringWithinDays": days}), 400, "validation_error", strict=False)
    assert "expiringWithinDays" in error["message"]


def test_scheduled_grant_counts_nowhere_and_is_not_applied(api: Any) -> None:
    customer = new_customer()
    g = create(api, cash(customer, amount="8.00", effectiveAt=iso(datetime.now(UTC) + timedelta(hours=2))))
    assert g["status"] == "SCHEDULED"
    assert get(api, g["id"])["status"] == "SCHEDULED"
    assert D(g["currentBalance"]) == Decimal("8.00")  # not yet usable, but held
    assert balance(api, customer) == {}
    preview = preview_5(api, customer)
    assert D(preview["creditsApplied"]) == 0
    assert preview["allocations"] == []


def test_depleted_at_zero_balance(api: Any) -> None:
    customer = new_customer()
    g = create(api, cash(customer, amount="10.00"))
    app = apply(api, customer, "25.00")
    assert D(app["creditsApplied"]) == Decimal("10.00")
    assert D(app["totalDue"]) == Decimal("15.00")
    depleted = get(api, g["id"])
    assert depleted["status"] == "DEPLETED"
    assert D(depleted["currentBalance"]) == 0
    assert D(depleted["pendingAmount"]) == Decimal("10.00")
    rows = balance(api, customer)
    usd = rows.get(("CASH", "USD"))
    if usd is not None:  # a row with only pending money is fine; it must then show it
        assert D(usd["available"]) == 0 and D(usd["pending"]) == Decimal("10.00")
    assert api("POST", f"/credit-applications/{app['invoiceId']}/release").status_code == 200
    assert get(api, g["id"])["status"] == "ACTIVE"


def test_grant_expired_a_second_ago(api: Any, stack: Any) -> None:
    """The one test that sleeps: a grant whose expiry has just passed reads EXPIRED with balance
    0, counts in no balance, is not applied, cannot be patched, and a release of an application
    made from it before it expired goes on to EXPIRED."""
    customer = new_customer()
    expires = datetime.fromtimestamp(math.ceil(time.time()) + 2, UTC)
    g = create(api, cash(customer, amount="10.00", expiresAt=iso(expires)))
    keep = create(api, cash(customer, amount="1.00", currency="EUR"))
    assert g["status"] == "ACTIVE"
    app = apply(api, customer, "4.00")
    assert D(app["creditsApplied"]) == Decimal("4.00")
    time.sleep(max(0.0, expires.timestamp() - time.time()) + 0.5)

    read = get(api, g["id"])
    assert read["status"] == "EXPIRED"
    assert D(read["currentBalance"]) == 0
    assert D(read["pendingAmount"]) == Decimal("4.00")
    rows = balance(api, customer)
    assert ("CASH", "USD") not in rows or (D(rows[("CASH", "USD")]["available"]) == 0 and rows[("CASH", "USD")]["grantCount"] == 0)
    assert D(rows[("CASH", "EUR")]["available"]) == Decimal("1.00")
    listed = api("GET", "/credit-grants", params={"customerId": customer, "status": "EXPIRED"}).json()
    assert [x["id"] for x in listed["items"]] == [g["id"]]
    listed = api("GET", "/credit-grants", params={"customerId": customer, "status": "ACTIVE"}).json()
    assert [x["id"] for x in listed["items"]] == [keep["id"]]

    preview = preview_5(api, customer)
    assert D(preview["creditsApplied"]) == 0

    assert_error(api("PATCH", f"/credit-grants/{g['id']}", json={"name": "x"}), 409, "conflict", strict=False)
    assert_error(api("PATCH", f"/credit-grants/{g['id']}", json={"expiryDate": day(30)}), 409, "conflict", strict=False)

    # releasing the pending application: the 4.00 goes on to EXPIRED, not back into the balance
    released = api("POST", f"/credit-applications/{app['invoiceId']}/release")
    assert released.status_code == 200, released.text
    after = get(api, g["id"])
    assert D(after["currentBalance"]) == 0 and D(after["pendingAmount"]) == 0
    assert after["status"] == "EXPIRED"
    types = [e["type"] for e in transactions(api, customer, grantId=g["id"])]
    assert types[:3] == ["GRANTED", "APPLIED", "RELEASED"]
    assert "EXPIRED" in types[3:]

    # the expiry job writes the rest; then the ledger invariant holds again
    import boto3
    from botocore.config import Config

    client = boto3.client(
        "lambda", endpoint_url=stack.lambda_url, region_name="us-east-1",
        aws_access_key_id="x", aws_secret_access_key="x", config=Config(retries={"max_attempts": 1}),
    )
    client.invoke(FunctionName="ExpiryFunction", Payload=b"{}")
    entries = transactions(api, customer, grantId=g["id"])
    expired_total = sum((D(e["amount"]) for e in entries if e["type"] == "EXPIRED"), Decimal(0))
    assert expired_total == Decimal("10.00")  # 6.00 by the job + 4.00 released
    assert get(api, g["id"])["expiredAt"] is not None
    check_ledger(api, customer, [g, keep])


# ---------------------------------------------------------------- transactions


def test_transactions_filters_paging_and_balance_after(api: Any) -> None:
    customer = new_customer()
    a = create(api, cash(customer, amount="10.00"))
    t0 = datetime.now(UTC)
    b = create(api, cash(customer, amount="5.00", priority=60))
    app = apply(api, customer, "12.00")
    assert api("POST", f"/credit-applications/{app['invoiceId']}/settle").status_code == 200
    assert void(api, b["id"]).status_code == 200

    entries = transactions(api, customer)
    for e in entries:
        assert set(e) == ENTRY_FIELDS
        assert e["customerId"] == customer
    # oldest first
    created = [ts(e["createdAt"]) for e in entries]
    assert created == sorted(created)
    assert [e["type"] for e in entries] == ["GRANTED", "GRANTED", "APPLIED", "APPLIED", "SETTLED", "SETTLED", "VOIDED"]
    applied = [e for e in entries if e["type"] == "APPLIED"]
    assert {(e["grantId"], D(e["amount"]), D(e["balanceAfter"]), e["invoiceId"]) for e in applied} == {
        (a["id"], Decimal("10.00"), Decimal("0.00"), app["invoiceId"]),
        (b["id"], Decimal("2.00"), Decimal("3.00"), app["invoiceId"]),
    }
    settled = [e for e in entries if e["type"] == "SETTLED"]
    assert all(e["invoiceId"] == app["invoiceId"] for e in settled)
    voided = entries[-1]
    assert (voided["grantId"], D(voided["amount"]), D(voided["balanceAfter"])) == (b["id"], Decimal("3.00"), 0)
    assert len({e["id"] for e in entries}) == len(entries)

    # filters
    assert [e["id"] for e in transactions(api, customer, grantId=b["id"])] == [e["id"] for e in entries if e["grantId"] == b["id"]]
    assert [e["id"] for e in transactions(api, customer, type="APPLIED")] == [e["id"] for e in applied]
    assert [e["id"] for e in transactions(api, customer, grantId=a["id"], type="APPLIED")] == [
        e["id"] for e in applied if e["grantId"] == a["id"]
    ]
    everything_from = transactions(api, customer, **{"from": iso(t0 - timedelta(hours=1))})
    assert [e["id"] for e in everything_from] == [e["id"] for e in entries]
    assert transactions(api, customer, **{"from": iso(datetime.now(UTC) + timedelta(hours=1))}) == []
    assert transactions(api, customer, to=iso(t0 - timedelta(hours=1))) == []
    window = transactions(api, customer, **{"from": iso(t0 - timedelta(hours=1)), "to": iso(datetime.now(UTC) + timedelta(hours=1))})
    assert len(window) == len(entries)

    # paging, oldest first, limit 2: each exactly once; `before` goes back
    pages = []
    params: dict[str, Any] = {"limit": 2}
    while True:
        page = api("GET", f"/customers/{customer}/credit-transactions", params=params).json()
        assert page["pagination"]["totalResultSize"] == len(entries)
        pages.append(page)
        if page["pagination"]["after"] is None:
            break
        params = {"limit": 2, "after": page["pagination"]["after"]}
    assert [e["id"] for p in pages for e in p["items"]] == [e["id"] for e in entries]
    back = api("GET", f"/customers/{customer}/credit-transactions", params={"limit": 2, "before": pages[2]["pagination"]["before"]}).json()
    assert [e["id"] for e in back["items"]] == [e["id"] for e in pages[1]["items"]]
    # a tampered cursor
    cursor = pages[0]["pagination"]["after"]
    bad = cursor[:-2] + ("A" if cursor[-2] != "A" else "B") + cursor[-1]
    assert_error(api("GET", f"/customers/{customer}/credit-transactions", params={"after": bad}), 400, "validation_error", strict=False)
    check_ledger(api, customer, [a, b])


def test_ledger_invariant_after_a_mixed_scenario(api: Any) -> None:
    customer = new_customer()
    grants = [
        create(api, cash(customer, amount="50.00", priority=10)),
        create(api, cash(customer, amount="30.00", expiryDate=day(15))),
        create(api, cash(customer, amount="20.00", category="PROMOTIONAL")),
        create(api, cash(customer, amount="40.00", currency="EUR")),
        create(api, usage(customer, amount="5000", metric="api_calls", currency="USD", pricePerUnit="0.001")),
        create(api, usage(customer, amount="250.5", metric="storage_gb")),
    ]
    usage_lines = [
        {"lineId": "u1", "metricId": "api_calls", "quantity": "3000", "unitPrice": "0.002"},
        {"lineId": "u2", "metricId": "storage_gb", "quantity": "100.25", "unitPrice": "0.1"},
        {"lineId": "a1", "amount": "35.00"},
    ]

    def invoice(lines: list[dict[str, Any]], currency: str = "USD", settle: bool = False) -> dict[str, Any]:
        response = api(
            "POST",
            "/credit-applications",
            json={"invoiceId": new_invoice(), "customerId": customer, "currency": currency, "lines": lines, "settle": settle},
        )
        assert response.status_code == 201, response.text
        return response.json()

    i1 = invoice(usage_lines)
    i2 = invoice([{"lineId": "a1", "amount": "45.00"}], settle=True)
    i3 = invoice([{"lineId": "a1", "amount": "15.00"}], currency="EUR")
    assert api("POST", f"/credit-applications/{i1['invoiceId']}/settle").status_code == 200
    i4 = invoice(usage_lines)
    assert api("PATCH", f"/credit-grants/{grants[1]['id']}", json={"expiryDate": day(40)}).status_code == 200
    assert void(api, grants[3]["id"]).status_code == 200  # i3 still pending on it
    assert api("POST", f"/credit-applications/{i3['invoiceId']}/release").status_code == 200  # goes on to VOIDED
    assert api("POST", f"/credit-applications/{i2['invoiceId']}/release").status_code == 200  # settled → released
    i5 = invoice([{"lineId": "a1", "amount": "12.34"}])
    assert void(api, grants[2]["id"]).status_code == 200
    assert api("POST", f"/credit-applications/{i4['invoiceId']}/release").status_code == 200
    assert api("POST", f"/credit-applications/{i4['invoiceId']}/release").status_code == 200  # no-op
    assert api("POST", f"/credit-applications/{i1['invoiceId']}/settle").status_code == 200  # no-op

    check_ledger(api, customer, grants)
    # pendingAmount = what PENDING applications hold (only i5 remains PENDING)
    pending: dict[str, Decimal] = {}
    for inv in (i1, i2, i3, i4, i5):
        stored = api("GET", f"/credit-applications/{inv['invoiceId']}").json()
        if stored["status"] == "PENDING":
            for alloc in stored["allocations"]:
                pending[alloc["grantId"]] = pending.get(alloc["grantId"], Decimal(0)) + D(alloc["units"] or alloc["value"])
    assert i5["invoiceId"] and pending
    for g in grants:
        assert D(get(api, g["id"])["pendingAmount"]) == pending.get(g["id"], Decimal(0)), g["id"]
    voided_eur = get(api, grants[3]["id"])
    assert voided_eur["status"] == "VOIDED" and D(voided_eur["currentBalance"]) == 0
    eur_entries = transactions(api, customer, grantId=grants[3]["id"])
    assert sum((D(e["amount"]) for e in eur_entries if e["type"] == "VOIDED"), Decimal(0)) == Decimal("40.00")
