"""GET /reports/credits over HTTP: the window's flows and the liability at its end."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tests.e2e.helpers import iso, new_customer, new_invoice


def test_report_of_a_customer_window(api: Any) -> None:
    customer = new_customer()
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=2)
    cash = api("POST", "/credit-grants", json={"customerId": customer, "name": "c", "type": "CASH", "amount": "50.00",
                                              "currency": "USD"}).json()
    api("POST", "/credit-grants", json={"customerId": customer, "name": "u", "type": "USAGE", "amount": "1000",
                                       "metricId": "api", "currency": "USD", "costOfCredit": "5.00"})
    invoice = new_invoice()
    assert api("POST", "/credit-applications", json={"invoiceId": invoice, "customerId": customer, "currency": "USD",
                                                     "lines": [{"lineId": "l", "amount": "20.00"}]}).status_code == 201
    api("POST", f"/credit-grants/{cash['id']}/void", json={"reason": "closing"})
    end = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=2)

    response = api("GET", "/reports/credits", params={"from": iso(start), "to": iso(end), "customerId": customer})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["customerId"] == customer and body["from"] == iso(start) and body["to"] == iso(end)
    rows = {(r["type"], r["currency"], r["metricId"]): r for r in body["rows"]}
    assert rows[("CASH", "USD", None)] == {
        "type": "CASH", "currency": "USD", "metricId": None, "granted": "50.00", "adjusted": "0.00",
        "applied": "20.00", "consumed": "0.00", "released": "0.00", "expired": "0.00", "voided": "30.00",
        "rolledOver": "0.00", "outstanding": "0.00", "outstandingValue": None}
    usage = rows[("USAGE", "USD", "api")]
    assert (usage["granted"], usage["outstanding"], usage["outstandingValue"]) == ("1000", "1000", "5.00")

    before = api("GET", "/reports/credits", params={"from": iso(start - timedelta(days=9)),
                                                   "to": iso(start - timedelta(days=1)), "customerId": customer})
    assert before.status_code == 200 and before.json()["rows"] == []
