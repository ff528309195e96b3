"""The local stack as a development environment (issue 17): real concurrency over HTTP, webhooks
that survive a receiver being down, framing errors answered, the IAM check on real handlers,
data and the development key kept across a restart."""

from __future__ import annotations

import json
import socket
import threading
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from local.stack import CURSOR_SECRET_FILE, DEV_KEY_FILE, start_stack
from local.template import load_template
from tests.e2e.helpers import D, cash, create, new_customer, new_invoice

# ---------------------------------------------------------------- concurrency


def test_twenty_concurrent_applications_overlap_in_time_and_spend_exactly_the_grant(stack, api):
    customer = new_customer()
    grant = create(api, cash(customer, amount="100.00"))
    barrier = threading.Barrier(20)

    def apply(_: int) -> requests.Response:
        body = {"invoiceId": new_invoice(), "customerId": customer, "currency": "USD",
                "lines": [{"lineId": "l1", "amount": "7.00"}]}
        barrier.wait()
        # A generous read timeout: up to 4 worker processes per function start cold at once
        # here, on a machine that other test runs share.
        return requests.post(f"{stack.api_url}/credit-applications", json=body, timeout=600,
                             headers={"Authorization": "Bearer key_a"})

    before = len(stack.runtime.invocations)
    with ThreadPoolExecutor(20) as pool:
        responses = list(pool.map(apply, range(20)))
    assert all(r.status_code in (201, 409) for r in responses), [r.text for r in responses if r.status_code not in (201, 409)]
    applied = sum((D(r.json()["creditsApplied"]) for r in responses if r.status_code == 201), Decimal(0))
    # 14 × 7.00 = 98.00, the 15th gets the last 2.00: exactly the grant, never more.
    assert applied == Decimal("100.00")
    balance = api("GET", f"/customers/{customer}/credit-balance").json()
    assert D(next(iter(b for b in balance["balances"] if b.get("currency") == "USD"))["available"]) == 0
    assert D(api("GET", f"/credit-grants/{grant['id']}").json()["currentBalance"]) == 0

    # Proof of concurrency from the invocations' own start and end times: two ApplyFunction
    # invocations in different worker processes whose intervals intersect.
    applies = [i for i in list(stack.runtime.invocations)[before:] if i[0] == "ApplyFunction"]
    assert len(applies) >= 20
    overlapping = [(a, b) for a in applies for b in applies if a[1] != b[1] and a[2] < b[3] and b[2] < a[3]]
    assert overlapping, "no two applications ran at the same time"
    assert len({pid for _, pid, _, _ in applies}) > 1


# ---------------------------------------------------------------- webhooks


def _grant_events(receiver: Any, customer: str) -> list[dict[str, Any]]:
    return receiver.matching(lambda e: e["detail"].get("customerId") == customer)


def test_a_receiver_that_was_down_gets_every_event_afterwards_in_order(stack, api, webhook_receiver):
    customers = [new_customer(), new_customer()]
    webhook_receiver.down = True
    try:
        grants = [create(api, cash(c, amount=f"{n}.00")) for n in (1, 2, 3) for c in customers]
        # Wait until the bus has tried and failed at least twice while the receiver is down.
        deadline_ok = _wait(lambda: any(p["attempts"] >= 2 for p in requests.get(f"{stack.events_url}/outbox", timeout=10).json()))
        assert deadline_ok, "the outbox never retried"
        assert webhook_receiver.refused > 0
    finally:
        webhook_receiver.down = False
    def granted(event: dict[str, Any]) -> str | None:
        return event["detail"]["data"]["grant"]["originalAmount"] if event["detail-type"] == "account.credits.granted" else None

    for customer in customers:
        webhook_receiver.wait_for(lambda e, c=customer: e["detail"].get("customerId") == c and granted(e) == "3.00",
                                  timeout=120)
        amounts = [granted(e) for e in _grant_events(webhook_receiver, customer) if granted(e)]
        assert amounts == ["1.00", "2.00", "3.00"], amounts  # in publication order per customer
    assert {g["id"] for g in grants} <= {e["detail"].get("grantId") or e["detail"].get("id")
                                          for c in customers for e in _grant_events(webhook_receiver, c)}
    assert requests.get(f"{stack.events_url}/dead-letters", timeout=10).json() == []


def _wait(predicate: Any, attempts: int = 600) -> bool:
    import time

    for _ in range(attempts):
        if predicate():
            return True
        time.sleep(0.1)
    return False


def test_an_event_a_receiver_keeps_refusing_ends_in_the_dead_letter_list():
    from local.outbox import WebhookOutbox

    with socket.socket() as probe:  # a port nothing listens on: every attempt is refused
        probe.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{probe.getsockname()[1]}/hook"
    outbox = WebhookOutbox(url, retry_delays=(0.01, 0.01))
    try:
        outbox.add({"id": "e1", "detail": {"accountId": "a", "customerId": "c"}})
        assert _wait(lambda: outbox.dead_letters())
        (dead,) = outbox.dead_letters()
        assert dead["event"]["id"] == "e1" and dead["attempts"] == 3
        assert outbox.pending() == []
    finally:
        outbox.stop()


# ---------------------------------------------------------------- framing and routing


def _raw(stack: Any, request: bytes) -> bytes:
    host, port = stack.api_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as conn:
        conn.sendall(request)
        chunks = []
        while chunk := conn.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


@pytest.mark.parametrize("length", ["abc", "1e3", "-1", "1 2", ""])
def test_a_bad_content_length_is_a_400(stack, length):
    answer = _raw(stack, b"POST /credit-grants HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer key_a\r\n"
                         b"Content-Length: " + length.encode() + b"\r\nConnection: close\r\n\r\n{}")
    assert answer.startswith(b"HTTP/1.1 400"), answer[:200]
    # The template's DEFAULT_4XX gateway response: the contract's error body, as API Gateway answers.
    assert json.loads(answer.partition(b"\r\n\r\n")[2])["error"]["code"] == "validation_error"


@pytest.mark.parametrize("size", [b"zz", b"-1", b"", b"1" * 40])
def test_a_bad_chunk_size_is_a_400(stack, size):
    answer = _raw(stack, b"POST /credit-grants HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                         b"Connection: close\r\n\r\n" + size + b"\r\n{}\r\n0\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 400"), answer[:200]


def test_a_body_over_the_limit_is_a_413_without_reading_it(stack):
    answer = _raw(stack, b"POST /credit-grants HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999\r\n"
                         b"Connection: close\r\n\r\n{}")
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]


def test_an_encoded_slash_stays_inside_its_path_segment(api):
    # /credit-grants/a%2Fvoid is GET /credit-grants/{grantId} with grantId "a/void": a 404 of the
    # handler, not the void route (POST only) nor an unknown route.
    response = api("GET", "/credit-grants/cg_x%2Fvoid")
    assert response.status_code == 404
    assert "x-amzn-ErrorType" not in response.headers  # the function answered, not the gateway


# ---------------------------------------------------------------- the IAM check on real handlers


def test_a_function_whose_policy_lacks_an_action_it_uses_fails_as_in_aws(stack, tmp_path):
    template = load_template()
    policies = template["Resources"]["GrantFunction"]["Properties"]["Policies"]
    # The function's explicit table statement, without dynamodb:PutItem (which creating a grant needs).
    granting = [s for p in policies for s in p.get("Statement", []) if "dynamodb:PutItem" in s["Action"]]
    assert len(granting) == 1, "GrantFunction's policies changed: adapt this test"
    granting[0]["Action"] = [a for a in granting[0]["Action"] if a != "dynamodb:PutItem"]
    copy = tmp_path / "template.yaml"
    copy.write_text(yaml.safe_dump(template))
    restricted = start_stack(dynamodb_url=stack.dynamodb_url, table_name="iam-check", template_path=copy,
                             api_keys={"key_iam": "acct_iam"}, quiet=True)
    try:
        response = requests.post(f"{restricted.api_url}/credit-grants", json=cash(new_customer()),
                                 headers={"Authorization": "Bearer key_iam"}, timeout=60)
        assert response.status_code >= 500
        assert ("GrantFunction", "dynamodb:PutItem",
                "arn:aws:dynamodb:us-east-1:123456789012:table/iam-check") in restricted.runtime.access_denied
    finally:
        restricted.stop()
        stack.activate()  # the second stack restored the environment it found


# ---------------------------------------------------------------- data kept across a restart


def test_data_the_development_key_and_paging_cursors_survive_a_restart(stack, tmp_path: Path, monkeypatch):
    data_dir = tmp_path / "data"
    monkeypatch.delenv("CURSOR_SECRET", raising=False)  # as in a developer's shell: the stack keeps its own
    first = start_stack(data_dir=data_dir, quiet=True)
    try:
        assert not first.data_kept and not first.key_kept
        (key,) = first.api_keys
        assert (data_dir / DEV_KEY_FILE).read_text().strip() == key
        assert (data_dir / CURSOR_SECRET_FILE).stat().st_mode & 0o077 == 0  # owner-only
        grant = requests.post(f"{first.api_url}/credit-grants", json=cash("cus_restart", amount="12.50"),
                              headers={"Authorization": f"Bearer {key}"}, timeout=60).json()
        requests.post(f"{first.api_url}/credit-grants", json=cash("cus_restart", amount="1.00"),
                      headers={"Authorization": f"Bearer {key}"}, timeout=60).raise_for_status()
        page = requests.get(f"{first.api_url}/credit-grants", params={"customerId": "cus_restart", "limit": 1},
                            headers={"Authorization": f"Bearer {key}"}, timeout=60).json()
        assert page["pagination"]["after"], page
    finally:
        first.stop()
    second = start_stack(data_dir=data_dir, quiet=True)
    try:
        assert second.data_kept and second.key_kept and list(second.api_keys) == [key]
        again = requests.get(f"{second.api_url}/credit-grants/{grant['id']}",
                             headers={"Authorization": f"Bearer {key}"}, timeout=60)
        assert again.status_code == 200 and again.json()["originalAmount"] == "12.50"
        # The cursor-signing key is kept with the data, so a client's cursor outlives the restart.
        rest = requests.get(f"{second.api_url}/credit-grants",
                            params={"customerId": "cus_restart", "limit": 1, "after": page["pagination"]["after"]},
                            headers={"Authorization": f"Bearer {key}"}, timeout=60)
        assert rest.status_code == 200, rest.text
        assert len(rest.json()["items"]) == 1 and rest.json()["items"][0]["id"] != page["items"][0]["id"]
    finally:
        second.stop()
        stack.activate()
