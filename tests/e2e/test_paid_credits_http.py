"""Paid credits, adjustments, refunds, per-line entries and rollover (issue 15) through the
running local stack: HTTP routes, the `Record Credit Payment` command over the Lambda invoke
API, events on the local bus (webhook receiver), the /v1 view through the stripe SDK, and a
rollover by invoking ExpiryFunction."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import stripe

from tests.e2e.helpers import D, cash, create, get, iso, new_customer, new_invoice
from tests.e2e.test_commands_e2e import invoke  # noqa: F401 - the Lambda invoke API fixture


def _of(kind: str, **detail: Any):
    return lambda e: e.get("detail-type") == kind and all(e["detail"].get(k) == v for k, v in detail.items())


def _paid(customer: str, amount: str = "100.00", cost: str = "80.00") -> dict[str, Any]:
    return cash(customer, amount, requirePayment=True, costOfCredit=cost, name="Prepaid credits")


def _transactions(api, customer: str, **params: Any) -> list[dict[str, Any]]:
    response = api("GET", f"/customers/{customer}/credit-transactions", params={"limit": 100, **params})
    assert response.status_code == 200, response.text
    return response.json()["items"]


# ---------------------------------------------------------------- payment-gated grants


def test_a_grant_that_requires_payment_is_usable_only_once_paid(api, webhook_receiver):
    customer = new_customer()
    grant = create(api, _paid(customer))
    assert (grant["status"], grant["currentBalance"], grant["requirePayment"]) == ("AWAITING_PAYMENT", "0", True)
    assert grant["invoiceRequested"] is True
    assert _transactions(api, customer) == []  # no GRANTED entry yet
    invoice = webhook_receiver.wait_for(_of("account.credits.invoice_requested", grantId=grant["id"]), timeout=15)
    assert invoice["detail"]["data"]["costOfCredit"] == "80.00"
    listed = api("GET", "/credit-grants", params={"customerId": customer, "status": "AWAITING_PAYMENT"}).json()
    assert [g["id"] for g in listed["items"]] == [grant["id"]]
    # Nothing can use it yet.
    applied = api("POST", "/credit-applications", json={"invoiceId": new_invoice(), "customerId": customer,
                                                        "currency": "USD", "lines": [{"lineId": "l1", "amount": "10.00"}]})
    assert applied.status_code == 201 and applied.json()["creditsApplied"] == "0.00"

    paid = api("POST", f"/credit-grants/{grant['id']}/payment", json={"status": "PAID", "invoiceId": "in_123"})
    assert paid.status_code == 200, paid.text
    body = paid.json()
    assert (body["status"], body["currentBalance"]) == ("ACTIVE", "100.00")
    # The GRANTED entry names the paid invoice.
    assert [(e["type"], e["invoiceId"]) for e in _transactions(api, customer)] == [("GRANTED", "in_123")]
    webhook_receiver.wait_for(_of("account.credits.granted", grantId=grant["id"]), timeout=15)
    # PAID again: the same grant, nothing more; FAILED after it: 409.
    again = api("POST", f"/credit-grants/{grant['id']}/payment", json={"status": "PAID"})
    assert again.status_code == 200 and again.json()["currentBalance"] == "100.00"
    failed = api("POST", f"/credit-grants/{grant['id']}/payment", json={"status": "FAILED"})
    assert failed.status_code == 409 and failed.json()["error"]["code"] == "conflict"
    assert [e["type"] for e in _transactions(api, customer)] == ["GRANTED"]
    assert len(webhook_receiver.matching(_of("account.credits.invoice_requested", grantId=grant["id"]))) == 1


def test_payment_failed_voids_the_grant(api, webhook_receiver):
    customer = new_customer()
    grant = create(api, _paid(customer))
    failed = api("POST", f"/credit-grants/{grant['id']}/payment", json={"status": "FAILED"})
    assert failed.status_code == 200 and failed.json()["status"] == "VOIDED"
    assert failed.json()["voidReason"] == "payment failed"
    voided = webhook_receiver.wait_for(_of("account.credits.voided", grantId=grant["id"]), timeout=15)
    assert voided["detail"]["data"]["reason"] == "payment failed"
    assert api("POST", f"/credit-grants/{grant['id']}/payment", json={"status": "PAID"}).status_code == 409


def test_paid_and_failed_racing_exactly_one_wins(api):
    for _ in range(3):
        grant = create(api, _paid(new_customer()))
        barrier = threading.Barrier(2)
        answers: dict[str, int] = {}

        def send(status: str) -> None:
            barrier.wait()
            answers[status] = api("POST", f"/credit-grants/{grant['id']}/payment", json={"status": status}).status_code

        threads = [threading.Thread(target=send, args=(s,)) for s in ("PAID", "FAILED")]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(answers.values()) == [200, 409], answers
        winner = next(s for s, code in answers.items() if code == 200)
        assert get(api, grant["id"])["status"] == ("ACTIVE" if winner == "PAID" else "VOIDED")


def test_require_payment_needs_a_paid_grant_with_a_cost(api):
    response = api("POST", "/credit-grants", json=cash(new_customer(), requirePayment=True, category="PROMOTIONAL"))
    assert response.status_code == 400 and response.json()["error"]["details"][0]["field"] == "requirePayment"


def test_record_credit_payment_command(api, invoke):
    grant = create(api, _paid(new_customer()))
    event = {"version": "0", "id": str(uuid.uuid4()), "detail-type": "Record Credit Payment", "source": "billing.system",
             "account": "123456789012", "time": iso(datetime.now(UTC)), "region": "us-east-1", "resources": [],
             "detail": {"accountId": "acct_a", "grantId": grant["id"], "status": "PAID"}}
    result = invoke("VoidFunction", event)
    assert result["status"] == "ACTIVE" and result["currentBalance"] == "100.00"
    assert invoke("VoidFunction", event) == result  # the same command again acts once
    assert get(api, grant["id"])["status"] == "ACTIVE"


# ---------------------------------------------------------------- adjustments and refunds


def test_adjustments_move_the_balance_with_their_own_entries(api, webhook_receiver):
    customer = new_customer()
    grant = create(api, cash(customer, "50.00"))
    path = f"/credit-grants/{grant['id']}/adjustments"
    up = api("POST", path, json={"direction": "INCREASE", "amount": "10.00", "reason": "goodwill"},
             headers={"Idempotency-Key": "adj-" + grant["id"]})
    assert up.status_code == 201, up.text
    assert (up.json()["type"], up.json()["amount"], up.json()["balanceAfter"]) == ("ADJUSTED_UP", "10.00", "60.00")
    replay = api("POST", path, json={"direction": "INCREASE", "amount": "10.00", "reason": "goodwill"},
                 headers={"Idempotency-Key": "adj-" + grant["id"]})
    assert replay.status_code == 201 and replay.json() == up.json()
    down = api("POST", path, json={"direction": "DECREASE", "amount": "25.00", "reason": "correction"})
    assert down.status_code == 201 and down.json()["type"] == "ADJUSTED_DOWN"
    assert get(api, grant["id"])["currentBalance"] == "35.00"
    too_much = api("POST", path, json={"direction": "DECREASE", "amount": "35.01", "reason": "x"})
    assert too_much.status_code == 400 and too_much.json()["error"]["details"][0]["field"] == "amount"
    assert api("POST", path, json={"direction": "INCREASE", "amount": "1.00"}).status_code == 400  # reason required
    event = webhook_receiver.wait_for(_of("account.credits.adjusted", grantId=grant["id"]), timeout=15)
    assert event["detail"]["data"]["direction"] in ("INCREASE", "DECREASE")
    assert api("POST", f"/credit-grants/{grant['id']}/void", json={"reason": "done"}).status_code == 200
    voided = api("POST", path, json={"direction": "INCREASE", "amount": "1.00", "reason": "late"})
    assert voided.status_code == 409
    types = [e["type"] for e in _transactions(api, customer)]
    assert types == ["GRANTED", "ADJUSTED_UP", "ADJUSTED_DOWN", "VOIDED"]


def test_adjusting_a_deleted_grant_is_409_and_an_unknown_one_404(api):
    grant = create(api, cash(new_customer(), "5.00"))
    assert api("DELETE", f"/credit-grants/{grant['id']}").status_code in (200, 204)
    body = {"direction": "INCREASE", "amount": "1.00", "reason": "late"}
    deleted = api("POST", f"/credit-grants/{grant['id']}/adjustments", json=body)
    assert deleted.status_code == 409 and "deleted" in deleted.json()["error"]["message"]
    assert api("GET", f"/credit-grants/{grant['id']}").status_code == 404
    assert api("POST", "/credit-grants/cg_01JZZZZZZZZZZZZZZZZZZZZZZZ/adjustments", json=body).status_code == 404


def test_refund_on_void_requests_a_credit_note(api, webhook_receiver):
    customer = new_customer()
    grant = create(api, cash(customer, "100.00", costOfCredit="90.00"))
    applied = api("POST", "/credit-applications", json={"invoiceId": new_invoice(), "customerId": customer,
                                                        "currency": "USD", "lines": [{"lineId": "l1", "amount": "33.33"}]})
    assert applied.status_code == 201
    voided = api("POST", f"/credit-grants/{grant['id']}/void", json={"reason": "customer left", "refund": True})
    assert voided.status_code == 200 and voided.json()["status"] == "VOIDED"
    event = webhook_receiver.wait_for(_of("account.credits.refund_requested", grantId=grant["id"]), timeout=15)
    data = event["detail"]["data"]
    # 66.67 x 90.00 / 100.00 = 60.003 -> 60.00
    assert (data["refundAmount"], data["currency"], data["voidedAmount"]) == ("60.00", "USD", "66.67")
    promo = create(api, cash(customer, "5.00", category="PROMOTIONAL"))
    refused = api("POST", f"/credit-grants/{promo['id']}/void", json={"reason": "x", "refund": True})
    assert refused.status_code == 400 and refused.json()["error"]["details"][0]["field"] == "refund"


# ---------------------------------------------------------------- per-line entries and the /v1 view


def test_every_v1_transaction_after_a_multi_line_application_and_release_names_its_line(stack, api):
    customer = new_customer()
    create(api, cash(customer, "30.00"))
    create(api, cash(customer, "100.00", priority=60))
    invoice = new_invoice()
    lines = [{"lineId": "li_a", "amount": "20.00"}, {"lineId": "li_b", "amount": "25.00"},
             {"lineId": "li_c", "amount": "10.00"}]
    assert api("POST", "/credit-applications", json={"invoiceId": invoice, "customerId": customer,
                                                     "currency": "USD", "lines": lines}).status_code == 201
    assert api("POST", f"/credit-applications/{invoice}/release").status_code == 200
    applied = _transactions(api, customer, type="APPLIED")
    assert sorted(e["lineId"] for e in applied) == ["li_a", "li_b", "li_b", "li_c"]
    sdk = stripe.StripeClient("key_a", base_addresses={"api": stack.api_url}, max_network_retries=0)
    txs = list(sdk.v1.billing.credit_balance_transactions.list(params={"customer": customer}).auto_paging_iter())
    moved = [t for t in txs if (t.debit and t.debit.type == "credits_applied")
             or (t.credit and t.credit.type == "credits_application_invoice_voided")]
    assert len(moved) == 8
    for t in moved:
        ref = t.debit.credits_applied if t.debit else t.credit.credits_application_invoice_voided
        assert ref.invoice == invoice and ref.invoice_line_item in ("li_a", "li_b", "li_c")
    # The transactions sum to the balance summary's ledger balance.
    signed = sum((t.credit.amount.monetary.value if t.credit else -t.debit.amount.monetary.value) for t in txs)
    summary = sdk.v1.billing.credit_balance_summary.retrieve(params={"customer": customer, "filter": {
        "type": "applicability_scope", "applicability_scope": {"price_type": "metered"}}})
    assert signed == summary.balances[0].ledger_balance.monetary.value == 13000


# ---------------------------------------------------------------- rollover


def test_rollover_through_the_schedule_run(api, invoke, webhook_receiver):
    """A daily allowance whose first period ends 25 s from now: the run grants it, the customer
    uses part of it, and the run after its expiry rolls up to maxAmount over."""
    customer = new_customer()
    ends = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=25)
    schedule = api("POST", "/credit-grant-schedules", json={
        "customerId": customer, "interval": "DAY", "startAt": iso(ends - timedelta(days=1)), "expireAfterIntervals": 1,
        "rollover": {"maxAmount": "500"},
        "grant": {"name": "Daily calls", "type": "USAGE", "amount": "1000", "metricId": "api_calls"}})
    assert schedule.status_code == 201, schedule.text
    assert schedule.json()["rollover"] == {"maxAmount": "500"}
    invoke("ExpiryFunction", {})
    (first,) = [g for g in api("GET", "/credit-grants", params={"customerId": customer}).json()["items"]]
    assert first["expiresAt"] == iso(ends)
    assert api("POST", "/credit-applications", json={
        "invoiceId": new_invoice(), "customerId": customer, "currency": "USD", "settle": True,
        "lines": [{"lineId": "calls", "metricId": "api_calls", "quantity": "300", "unitPrice": "0.01"}]}).status_code == 201
    while datetime.now(UTC) <= ends:  # wait for the period to end (deterministic: the clock only moves on)
        time.sleep(0.5)
    invoke("ExpiryFunction", {})
    invoke("ExpiryFunction", {})  # a second run changes nothing
    grants = api("GET", "/credit-grants", params={"customerId": customer}).json()["items"]
    rollover = [g for g in grants if g["rolledOverFrom"] == first["id"]]
    assert len(rollover) == 1
    assert (rollover[0]["name"], rollover[0]["originalAmount"], rollover[0]["effectiveAt"]) == (
        "Rollover: Daily calls", "500", iso(ends))
    assert rollover[0]["expiresAt"] == iso(ends + timedelta(days=1))
    entries = _transactions(api, customer, grantId=first["id"])
    assert [(e["type"], e["amount"]) for e in entries][-2:] == [("ROLLED_OVER", "500"), ("EXPIRED", "200")]
    webhook_receiver.wait_for(_of("account.credits.granted", grantId=rollover[0]["id"]), timeout=15)
    report = api("GET", "/reports/credits", params={"from": iso(ends - timedelta(days=2)),
                                                      "to": iso(datetime.now(UTC) + timedelta(seconds=5)),
                                                      "customerId": customer}).json()
    (row,) = report["rows"]
    assert (row["rolledOver"], row["expired"], row["adjusted"], row["consumed"]) == ("500", "200", "0", "0")
    total = (D(row["granted"]) - D(row["applied"]) + D(row["released"]) - D(row["expired"]) - D(row["voided"])
             - D(row["rolledOver"]))
    assert total == D(row["outstanding"]) == Decimal("1500")  # the rollover and the next day's allowance
