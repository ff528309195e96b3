"""End-to-end tests of real-time consumption (issue 20) through the local stack: POST
/credit-consumptions (PARTIAL / STRICT, replay, conflict), the batch, GET by eventId, the
entitlement check, contention (never more than granted), the Consume Credits command and the
consumption queue (SQS, partial batch failures, the dead-letter queue)."""

from __future__ import annotations

import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import boto3

from tests.e2e.helpers import D, assert_error, cash, create, get, new_customer, transactions, usage


def event_id() -> str:
    return f"use_{uuid.uuid4().hex[:16]}"


def consume(api, body, key="key_a"):
    return api("POST", "/credit-consumptions", key=key, json=body)


def consume_patiently(stack, body):
    """For the contention tests: a busy shared machine may queue 32 requests on the local
    stack's few workers for longer than the `api` fixture's 30 s; that is no answer to test."""
    import requests

    return requests.post(f"{stack.api_url}/credit-consumptions", json=body, timeout=300,
                         headers={"Authorization": "Bearer key_a"})


def test_usage_then_cash_partial_and_the_ledger(api):
    customer = new_customer()
    units = create(api, usage(customer, "10"))
    money = create(api, cash(customer, "1.00"))
    body = {"eventId": event_id(), "customerId": customer, "metricId": "api_calls", "quantity": "12",
            "currency": "USD", "unitPrice": "0.30"}
    response = consume(api, body)
    assert response.status_code == 201, response.text
    made = response.json()
    assert made["id"].startswith("ccn_") and made["mode"] == "PARTIAL"
    assert made["covered"] == {"units": "12", "value": "3.60"} and made["uncovered"] == {"units": "0", "value": "0.00"}
    assert [(a["grantId"], a["type"], a["units"], a["value"]) for a in made["allocations"]] == [
        (units["id"], "USAGE", "10", "3.00"), (money["id"], "CASH", None, "0.60")]
    rows = {(r["type"], r["currency"], r["metricId"]): r for r in made["balances"]}
    assert rows[("USAGE", None, "api_calls")]["available"] == "0" and rows[("CASH", "USD", None)]["available"] == "0.40"
    assert get(api, money["id"])["currentBalance"] == "0.40"
    consumed = [e for e in transactions(api, customer) if e["type"] == "CONSUMED"]
    assert sorted((e["grantId"], e["amount"]) for e in consumed) == sorted([(units["id"], "10"), (money["id"], "0.60")])
    # Replay: same body -> 200 and the same consumption; another body -> 409; GET reads it.
    again = consume(api, body)
    assert again.status_code == 200 and again.json()["id"] == made["id"]
    assert_error(consume(api, {**body, "quantity": "13"}), 409, "conflict")
    read = api("GET", f"/credit-consumptions/{body['eventId']}")
    assert read.status_code == 200 and read.json()["allocations"] == made["allocations"]
    assert api("GET", f"/credit-consumptions/{body['eventId']}", key="key_b").status_code == 404
    # Uncovered part: PARTIAL takes what is left and reports the rest.
    rest = consume(api, {"eventId": event_id(), "customerId": customer, "metricId": "api_calls", "quantity": "2",
                         "currency": "USD", "unitPrice": "0.30"}).json()
    assert rest["covered"]["value"] == "0.40" and rest["uncovered"]["value"] == "0.20"
    # The first one again, after another moved the balance: the same body as its first answer
    # (its balances right after it), by replay and by GET.
    assert consume(api, body).json() == made
    assert api("GET", f"/credit-consumptions/{body['eventId']}").json() == made


def test_strict_answers_402_and_writes_nothing(api):
    customer = new_customer()
    create(api, usage(customer, "5"))
    before = transactions(api, customer)
    body = {"eventId": event_id(), "customerId": customer, "metricId": "api_calls", "quantity": "6", "mode": "STRICT"}
    error = assert_error(consume(api, body), 402, "insufficient_credits")
    assert any(d.get("available") == "5" for d in error["details"])
    assert transactions(api, customer) == before
    assert api("GET", f"/credit-consumptions/{body['eventId']}").status_code == 404
    ok = consume(api, {**body, "eventId": event_id(), "quantity": "5"})
    assert ok.status_code == 201 and ok.json()["uncovered"]["units"] == "0"


def test_bad_bodies_are_400_naming_the_field(api):
    customer = new_customer()
    for body, field in [
        ({"eventId": event_id(), "customerId": customer, "quantity": "1"}, "metricId"),
        ({"eventId": event_id(), "customerId": customer, "metricId": "m", "quantity": "1", "unitPrice": "0.1"}, "currency"),
        ({"eventId": event_id(), "customerId": customer, "amount": "1.00"}, "currency"),
        ({"eventId": event_id(), "customerId": customer, "currency": "USD", "amount": "1.001"}, "amount"),
        ({"eventId": event_id(), "customerId": customer, "metricId": "m", "quantity": 1}, "quantity"),
        ({"eventId": "", "customerId": customer, "metricId": "m", "quantity": "1"}, "eventId"),
        ({"eventId": event_id(), "customerId": customer, "metricId": "m", "quantity": "1", "mode": "ALL"}, "mode"),
    ]:
        error = assert_error(consume(api, body), 400, "validation_error")
        assert any(d["field"] == field for d in error["details"]), (field, error)


def test_entitlement_check(api):
    customer = new_customer()
    nothing = api("GET", f"/customers/{customer}/entitlements/api_calls").json()
    assert nothing["hasAccess"] is False and nothing["units"] == "0" and nothing["cash"] == []
    create(api, usage(customer, "3"))
    create(api, cash(customer, "2.00", applicability={"metricIds": ["storage"]}))
    create(api, cash(customer, "1.50", currency="EUR"))
    create(api, usage(customer, "7", effectiveDate=(time.strftime("%Y-%m-%d", time.gmtime(time.time() + 3 * 86400)))))
    found = api("GET", f"/customers/{customer}/entitlements/api_calls").json()
    assert found["hasAccess"] is True and found["units"] == "3"  # the future grant is not usable yet
    assert found["cash"] == [{"currency": "EUR", "available": "1.50"}]  # USD may only pay for storage
    balance = api("GET", f"/customers/{customer}/credit-balance").json()["balances"]
    assert {(r["type"], r["currency"] or r["metricId"], r["available"], r["grantCount"]) for r in balance} == {
        ("CASH", "EUR", "1.50", 1), ("CASH", "USD", "2.00", 1), ("USAGE", "api_calls", "3", 1)}


def test_32_concurrent_strict_consumptions_against_20_units(api, stack):
    customer = new_customer()
    create(api, usage(customer, "20"))

    def one(_):
        return consume_patiently(stack, {"eventId": event_id(), "customerId": customer, "metricId": "api_calls",
                                         "quantity": "1", "mode": "STRICT"}).status_code

    with ThreadPoolExecutor(max_workers=32) as pool:
        statuses = list(pool.map(one, range(32)))
    assert sorted(statuses) == [201] * 20 + [402] * 12
    assert api("GET", f"/customers/{customer}/entitlements/api_calls").json()["units"] == "0"


def test_the_same_event_id_from_10_threads_consumes_once(api, stack):
    customer = new_customer()
    grant = create(api, usage(customer, "100"))
    body = {"eventId": event_id(), "customerId": customer, "metricId": "api_calls", "quantity": "7"}
    with ThreadPoolExecutor(max_workers=10) as pool:
        responses = list(pool.map(lambda _: consume_patiently(stack, body), range(10)))
    assert sorted(r.status_code for r in responses) == [200] * 9 + [201]
    assert len({r.json()["id"] for r in responses}) == 1
    assert get(api, grant["id"])["currentBalance"] == "93"


def test_batch_answers_each_item(api):
    customer = new_customer()
    create(api, usage(customer, "5"))
    first = {"eventId": event_id(), "customerId": customer, "metricId": "api_calls", "quantity": "2"}
    assert consume(api, first).status_code == 201
    response = api("POST", "/credit-consumptions/batch", json={"consumptions": [
        first,
        {"eventId": event_id(), "customerId": customer, "metricId": "api_calls", "quantity": "1"},
        {**first, "quantity": "3"},
        {"eventId": event_id(), "customerId": customer, "metricId": "api_calls", "quantity": "9", "mode": "STRICT"},
        {"eventId": event_id(), "customerId": customer, "quantity": "1"},
    ]})
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["status"] for r in results] == [200, 201, 409, 402, 400]
    assert results[1]["consumption"]["covered"]["units"] == "1"
    assert results[4]["error"]["code"] == "validation_error"
    too_many = api("POST", "/credit-consumptions/batch", json={"consumptions": [first] * 101})
    assert_error(too_many, 400, "validation_error")


def test_consume_credits_command_through_the_invoke_api(api, stack):
    customer = new_customer()
    grant = create(api, usage(customer, "10"))
    client = boto3.client("lambda", endpoint_url=stack.lambda_url, region_name="us-east-1",
                          aws_access_key_id="local", aws_secret_access_key="local")
    command = {"id": str(uuid.uuid4()), "source": "billing.meter", "detail-type": "Consume Credits",
               "detail": {"accountId": "acct_a", "consumption": {"eventId": event_id(), "customerId": customer,
                                                                "metricId": "api_calls", "quantity": "4"}}}
    reply = json.loads(client.invoke(FunctionName="ConsumeFunction", Payload=json.dumps(command))["Payload"].read())
    assert reply["covered"]["units"] == "4"
    assert get(api, grant["id"])["currentBalance"] == "6"


def test_the_queue_consumes_and_a_poison_message_goes_to_the_dead_letter_queue(api, stack):
    customer = new_customer()
    grant = create(api, usage(customer, "10"))
    sqs = boto3.client("sqs", endpoint_url=stack.queues.server.url, region_name="us-east-1",
                       aws_access_key_id="local", aws_secret_access_key="local")
    url = sqs.get_queue_url(QueueName="ConsumptionQueue")["QueueUrl"]
    good = [{"accountId": "acct_a", "consumption": {"eventId": event_id(), "customerId": customer,
                                                     "metricId": "api_calls", "quantity": "1"}} for _ in range(4)]
    poison = {"accountId": "acct_a", "consumption": {"eventId": event_id(), "customerId": customer, "quantity": "x"}}
    entries = [{"Id": str(i), "MessageBody": json.dumps(b)} for i, b in enumerate([good[0], good[1], poison, good[2], good[3]])]
    assert len(sqs.send_message_batch(QueueUrl=url, Entries=entries)["Successful"]) == 5
    dead = sqs.get_queue_url(QueueName="ConsumptionDeadLetterQueue")["QueueUrl"]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        messages = sqs.receive_message(QueueUrl=dead, MaxNumberOfMessages=10).get("Messages", [])
        if messages:
            break
        time.sleep(0.2)
    assert [json.loads(m["Body"]) for m in messages] == [poison]
    assert get(api, grant["id"])["currentBalance"] == "6"  # the four good ones, once each
    assert D(api("GET", f"/customers/{customer}/entitlements/api_calls").json()["units"]) == Decimal(6)
