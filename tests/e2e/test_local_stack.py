"""The local stack's own machinery (routing, authorizer, proxy events, invoke API, event bus,
stream → publisher, shutdown), independent of the business logic: handlers are stubbed where
the behaviour under test is the stack's."""

from __future__ import annotations

import base64
import http.client
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from local.gateway import Router
from local.template import api_routes, functions

ROOT = Path(__file__).resolve().parents[2]
UNAUTHORIZED = {
    "error": {"code": "unauthorized", "message": "missing or unknown API key in the Authorization header", "details": []}
}


def _client(service: str, endpoint: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
        config=Config(retries={"max_attempts": 1}),
    )


def _stub_authorizer(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Allow `Bearer good_*` (account = the rest), deny `Bearer deny`, else Unauthorized."""
    token = (event["headers"].get("Authorization") or "").removeprefix("Bearer ")
    if token == "deny":
        effect, account = "Deny", "acct_denied"
    elif token.startswith("good_"):
        effect, account = "Allow", token.removeprefix("good_")
    else:
        raise Exception("Unauthorized")
    stage_arn = "/".join(event["methodArn"].split("/")[:2]) + "/*"
    return {
        "principalId": account,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": effect, "Resource": stage_arn}],
        },
        "context": {"accountId": account, "tier": 3, "beta": True},
    }


class Recorder:
    """A stub handler that records its events and answers with `respond(event)`."""

    def __init__(self, respond: Any = None):
        self.events: list[dict[str, Any]] = []
        self.respond = respond or (lambda event: {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": "{}"})
        self._cond = threading.Condition()

    def __call__(self, event: dict[str, Any], context: Any) -> Any:
        with self._cond:
            self.events.append(event)
            self._cond.notify_all()
        return self.respond(event)

    def wait(self, predicate: Any, timeout: float = 10.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for event in self.events:
                    if predicate(event):
                        return event
                if time.monotonic() >= deadline:
                    raise AssertionError(f"no matching event within {timeout}s ({len(self.events)} seen)")
                self._cond.wait(deadline - time.monotonic())


@pytest.fixture
def stub_auth(stack):
    with stack.runtime.override("AuthorizerFunction", _stub_authorizer):
        yield


# ---------------------------------------------------------------------------------------------
# Routing (pure)
# ---------------------------------------------------------------------------------------------


def test_api_routes_come_from_the_template():
    routes = api_routes()
    assert ("GET", "/credit-grants/{grantId}", "ListFunction") in routes
    assert ("POST", "/credit-applications/preview", "ApplyFunction") in routes
    assert ("POST", "/credit-grants/{grantId}/void", "VoidFunction") in routes
    assert {fn for _, _, fn in routes} <= set(functions())
    assert functions()["ExpiryFunction"].timeout == 300
    assert functions()["GrantFunction"].handler == "app.lambda_handler"


def test_router_prefers_literal_segments_and_decodes_params():
    router = Router(functions())
    route, params, _ = router.resolve("POST", "/credit-applications/preview")
    assert (route.path, route.function, params) == ("/credit-applications/preview", "ApplyFunction", {})
    route, params, _ = router.resolve("GET", "/credit-applications/inv_1")
    assert (route.path, params) == ("/credit-applications/{invoiceId}", {"invoiceId": "inv_1"})
    # Like API Gateway's resource tree: the literal resource wins even without that method
    # (no fall back to {invoiceId}), so GET …/preview has no route.
    route, _, allowed = router.resolve("GET", "/credit-applications/preview")
    assert route is None and allowed == ["POST"]
    route, params, _ = router.resolve("GET", "/credit-grants/a%20b%2Fc")
    assert params == {"grantId": "a b/c"}
    route, _, allowed = router.resolve("PUT", "/credit-grants")
    assert route is None and allowed == ["GET", "POST"]
    assert router.resolve("GET", "/nope")[0] is None


# ---------------------------------------------------------------------------------------------
# HTTP API
# ---------------------------------------------------------------------------------------------


def test_unknown_route_and_wrong_method_answer_the_templates_missing_route_response(api):
    # API Gateway (REST) answers both as MISSING_AUTHENTICATION_TOKEN, which the template maps
    # to the contract's 404; the local gateway takes the body from the template, not from code.
    for method, path in (("GET", "/no-such-route"), ("PUT", "/credit-grants")):
        response = api(method, path)
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"
        assert response.json()["error"]["details"] == []
        assert response.headers["x-amzn-ErrorType"] == "MissingAuthenticationTokenException"


def test_missing_authorization_is_401_without_calling_the_authorizer(stack, api):
    calls = Recorder()
    with stack.runtime.override("AuthorizerFunction", calls):
        response = api("GET", "/credit-grants", key=None)
    assert response.status_code == 401
    assert response.json() == UNAUTHORIZED
    assert calls.events == []


def test_stub_authorizer_unauthorized_and_deny_are_401(stack, api, stub_auth):
    assert api("GET", "/credit-grants", key="nope").status_code == 401
    response = api("GET", "/credit-grants", key="deny")
    assert response.status_code == 401  # the template maps ACCESS_DENIED to 401
    assert response.json() == UNAUTHORIZED


def test_proxy_event_matches_api_gateway_rest(stack, api, stub_auth):
    handler = Recorder(lambda e: {"statusCode": 200, "headers": {"X-Echo": "1"}, "body": json.dumps({"ok": True})})
    with stack.runtime.override("ListFunction", handler):
        response = api(
            "GET",
            "/customers/cus%201/credit-balance?currency=USD&m=1&m=2",
            key="good_acct_x",
            headers={"X-Custom-Header": "v"},
        )
    assert response.status_code == 200, response.text
    assert response.json() == {"ok": True}
    assert response.headers["X-Echo"] == "1"
    event = handler.events[-1]
    assert event["resource"] == "/customers/{customerId}/credit-balance"
    assert event["path"] == "/customers/cus 1/credit-balance"
    assert event["httpMethod"] == "GET"
    assert event["pathParameters"] == {"customerId": "cus 1"}
    assert event["queryStringParameters"] == {"currency": "USD", "m": "2"}
    assert event["multiValueQueryStringParameters"] == {"currency": ["USD"], "m": ["1", "2"]}
    assert event["headers"]["X-Custom-Header"] == "v"  # original case
    assert event["multiValueHeaders"]["X-Custom-Header"] == ["v"]
    assert event["body"] is None and event["isBase64Encoded"] is False
    assert event["stageVariables"] is None
    ctx = event["requestContext"]
    assert ctx["stage"] == "prod" and ctx["path"] == "/prod/customers/cus 1/credit-balance"
    assert ctx["resourcePath"] == event["resource"] and ctx["httpMethod"] == "GET"
    assert ctx["authorizer"]["principalId"] == "acct_x"
    assert ctx["authorizer"]["accountId"] == "acct_x"
    assert ctx["authorizer"]["tier"] == "3" and ctx["authorizer"]["beta"] == "true"  # stringified
    assert ctx["identity"]["sourceIp"] == "127.0.0.1"
    assert uuid.UUID(ctx["requestId"])


def test_empty_query_and_path_params_are_none_and_bodies_round_trip(stack, api, stub_auth):
    def echo(event: dict[str, Any]) -> dict[str, Any]:
        return {
            "statusCode": 201,
            "headers": {"Content-Type": "application/octet-stream"},
            "body": base64.b64encode(b"\xff\x00bin").decode(),
            "isBase64Encoded": True,
        }

    handler = Recorder(echo)
    with stack.runtime.override("GrantFunction", handler):
        text = api("POST", "/credit-grants", key="good_a", json={"amount": "10"})
        binary = api("POST", "/credit-grants", key="good_a", data=b"\xff\xfe")
    assert text.status_code == 201 and text.content == b"\xff\x00bin"
    first, second = handler.events
    assert first["queryStringParameters"] is None and first["pathParameters"] is None
    assert json.loads(first["body"]) == {"amount": "10"} and first["isBase64Encoded"] is False
    assert second["isBase64Encoded"] is True and base64.b64decode(second["body"]) == b"\xff\xfe"
    assert binary.status_code == 201


def test_handler_exception_is_502_with_the_contract_body(stack, api, stub_auth):
    def boom(event: dict[str, Any], context: Any) -> Any:
        raise RuntimeError("boom")

    with stack.runtime.override("VoidFunction", boom):
        response = api("POST", "/credit-grants/g1/void", key="good_a")
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "internal_error"


def test_keep_alive_connection_serves_many_requests(stack, stub_auth):
    handler = Recorder(lambda e: {"statusCode": 204, "headers": {}, "body": ""})
    host, port = stack.api_url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    with stack.runtime.override("GrantFunction", handler):
        for method, path, body in [
            ("DELETE", "/credit-grants/g1", None),
            ("GET", "/nope", None),
            ("POST", "/nope", b'{"ignored": true}'),  # an unread body would desync the connection
            ("DELETE", "/credit-grants/g2", None),
        ]:
            conn.request(method, path, body=body, headers={"Authorization": "Bearer good_a"})
            response = conn.getresponse()
            response.read()
            assert response.status in (204, 404)
            assert not response.will_close
    conn.close()
    assert [e["pathParameters"]["grantId"] for e in handler.events] == ["g1", "g2"]


def test_real_authorizer_rejects_a_bad_key_and_accepts_provisioned_ones(stack, api):
    if not stack.runtime.has_handler("AuthorizerFunction") or not stack.keys_provisioned:
        pytest.skip("functions/authorizer/app.py or credits.apikeys is not implemented yet")
    response = api("GET", "/credit-grants", key="not-a-key")
    assert response.status_code == 401 and response.json() == UNAUTHORIZED
    handler = Recorder()
    with stack.runtime.override("ListFunction", handler):
        assert api("GET", "/credit-grants", key="key_a").status_code == 200
        assert api("GET", "/credit-grants", key="key_b").status_code == 200
    assert [e["requestContext"]["authorizer"]["accountId"] for e in handler.events] == ["acct_a", "acct_b"]


# ---------------------------------------------------------------------------------------------
# Lambda invoke API
# ---------------------------------------------------------------------------------------------


def test_invoke_api_shapes(stack):
    client = _client("lambda", stack.lambda_url)
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.invoke(FunctionName="NoSuchFunction")

    def ok(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return {"got": event, "fn": context.function_name, "ms": context.get_remaining_time_in_millis() > 0}

    def boom(event: dict[str, Any], context: Any) -> Any:
        raise ValueError("bad things")

    with stack.runtime.override("ExpiryFunction", ok):
        result = client.invoke(FunctionName="ExpiryFunction", Payload=b'{"a": 1}')
        assert result["StatusCode"] == 200 and "FunctionError" not in result
        assert result["ExecutedVersion"] == "$LATEST"
        assert json.loads(result["Payload"].read()) == {"got": {"a": 1}, "fn": "ExpiryFunction", "ms": True}
        arn = "arn:aws:lambda:us-east-1:123456789012:function:ExpiryFunction"
        assert json.loads(client.invoke(FunctionName=arn)["Payload"].read())["got"] == {}
        assert client.invoke(FunctionName="ExpiryFunction:$LATEST")["StatusCode"] == 200

    with stack.runtime.override("ExpiryFunction", boom):
        result = client.invoke(FunctionName="ExpiryFunction")
        assert result["StatusCode"] == 200 and result["FunctionError"] == "Unhandled"
        error = json.loads(result["Payload"].read())
        assert error["errorMessage"] == "bad things" and error["errorType"] == "ValueError"
        assert isinstance(error["stackTrace"], list)

    done = Recorder(lambda e: None)
    with stack.runtime.override("ExpiryFunction", done):
        assert client.invoke(FunctionName="ExpiryFunction", InvocationType="Event", Payload=b'{"x": 2}')["StatusCode"] == 202
        done.wait(lambda e: e == {"x": 2})


# ---------------------------------------------------------------------------------------------
# Event bus
# ---------------------------------------------------------------------------------------------


def test_put_events_reaches_webhook_events_list_and_rules(stack, webhook_receiver):
    events = _client("events", stack.events_url)
    marker = f"evt_{uuid.uuid4().hex}"
    grant_commands = Recorder(lambda e: None)
    with stack.runtime.override("GrantFunction", grant_commands):
        result = events.put_events(
            Entries=[
                {
                    "Source": "credits.service",
                    "DetailType": "account.credits.granted",
                    "Detail": json.dumps({"id": marker, "type": "account.credits.granted"}),
                    "EventBusName": "credits-local",
                },
                {
                    "Source": "billing.system",
                    "DetailType": "Grant Credits",
                    "Detail": json.dumps({"accountId": "acct_a", "grant": {"marker": marker}}),
                    "EventBusName": "credits-local",
                },
                {"Source": "credits.service", "DetailType": "Grant Credits", "Detail": json.dumps({"loop": marker})},
                {"Source": "x", "DetailType": "y", "Detail": "not json"},
            ]
        )
        assert result["FailedEntryCount"] == 1
        assert result["Entries"][3]["ErrorCode"] == "MalformedDetail"
        assert all(uuid.UUID(e["EventId"]) for e in result["Entries"][:3])

        hook = webhook_receiver.wait_for(lambda e: e["detail"].get("id") == marker)
        assert hook["source"] == "credits.service" and hook["detail-type"] == "account.credits.granted"
        assert set(hook) == {"version", "id", "detail-type", "source", "account", "time", "region", "resources", "detail"}
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", hook["time"])

        command = grant_commands.wait(lambda e: e["detail"].get("grant") == {"marker": marker})
        assert command["detail-type"] == "Grant Credits" and command["source"] == "billing.system"
        time.sleep(0.3)
        # The service's own events never match a command rule (no loops), and only
        # `source: credits.service` events go to the webhook (the template's WebhookRule).
        assert not [e for e in grant_commands.events if e["detail"].get("loop") == marker]
        assert not webhook_receiver.matching(lambda e: e["detail"].get("grant") == {"marker": marker})

    import requests

    listed = requests.get(stack.events_url + "/events", timeout=5).json()
    assert any(e["detail"].get("id") == marker for e in listed)
    with pytest.raises(events.exceptions.ClientError, match="ValidationException"):
        events.put_events(Entries=[{"Source": "s", "DetailType": "d", "Detail": "{}"}] * 11)


# ---------------------------------------------------------------------------------------------
# Table stream → PublisherFunction
# ---------------------------------------------------------------------------------------------


def test_stream_records_reach_the_publisher_with_checkpointing(stack):
    ddb = _client("dynamodb", stack.dynamodb_url)
    pk = f"TEST#{uuid.uuid4().hex}"
    failed_once: set[str] = set()

    def respond(event: dict[str, Any]) -> dict[str, Any]:
        # Fail the first delivery of SK=2: Lambda must re-deliver from it, not from the start.
        for record in event["Records"]:
            keys = record["dynamodb"]["Keys"]
            if keys["PK"]["S"] == pk and keys["SK"]["S"] == "2" and "2" not in failed_once:
                failed_once.add("2")
                return {"batchItemFailures": [{"itemIdentifier": record["dynamodb"]["SequenceNumber"]}]}
        return {"batchItemFailures": []}

    publisher = Recorder(respond)
    with stack.runtime.override("PublisherFunction", publisher):
        for sk in ("1", "2", "3"):
            ddb.put_item(TableName=stack.table_name, Item={"PK": {"S": pk}, "SK": {"S": sk}, "n": {"N": "1"}, "b": {"B": b"\x01"}, "e": {"M": {}}})
        ddb.update_item(
            TableName=stack.table_name,
            Key={"PK": {"S": pk}, "SK": {"S": "1"}},
            UpdateExpression="SET n = :n",
            ExpressionAttributeValues={":n": {"N": "2"}},
        )

        def seen(sk: str, name: str) -> list[dict[str, Any]]:
            return [
                r
                for e in publisher.events
                for r in e["Records"]
                if r["dynamodb"]["Keys"] == {"PK": {"S": pk}, "SK": {"S": sk}} and r["eventName"] == name
            ]

        # Wait for the re-delivery too, before the stub goes away.
        publisher.wait(lambda e: bool(seen("1", "MODIFY")) and len(seen("2", "INSERT")) == 2, timeout=60)

    insert = seen("1", "INSERT")[0]
    assert insert["eventSource"] == "aws:dynamodb" and insert["eventVersion"] == "1.1"
    assert insert["eventSourceARN"].startswith("arn:aws:dynamodb:")
    assert insert["awsRegion"] == "us-east-1"
    ddb_part = insert["dynamodb"]
    assert isinstance(ddb_part["ApproximateCreationDateTime"], (int, float))
    assert ddb_part["NewImage"]["n"] == {"N": "1"}
    assert ddb_part["NewImage"]["b"] == {"B": base64.b64encode(b"\x01").decode()}  # as Lambda sends binary
    assert ddb_part["NewImage"]["e"] == {"M": {}}
    assert ddb_part["StreamViewType"] == "NEW_AND_OLD_IMAGES"
    modify = seen("1", "MODIFY")[0]
    assert modify["dynamodb"]["OldImage"]["n"] == {"N": "1"} and modify["dynamodb"]["NewImage"]["n"] == {"N": "2"}
    assert len(seen("1", "INSERT")) == 1  # before the failed record: delivered once
    assert len(seen("2", "INSERT")) == 2  # the failed record: re-delivered
    assert len(seen("3", "INSERT")) in (1, 2)  # after it: re-delivered with it if in its batch
    json.dumps(publisher.events)  # the events are plain JSON, as Lambda receives them


# ---------------------------------------------------------------------------------------------
# Shutdown leaves nothing behind
# ---------------------------------------------------------------------------------------------


def _java_running_on(port: int) -> bool:
    """Whether a DynamoDB Local JVM for `port` is alive (read from /proc: ps truncates)."""
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().split(b"\0")
        except OSError:
            continue
        if any(a.endswith(b"DynamoDBLocal.jar") for a in args) and b"-port" in args:
            if args[args.index(b"-port") + 1] == str(port).encode():
                stat = cmdline.with_name("stat").read_text() if cmdline.with_name("stat").exists() else ""
                if ") Z " not in stat:  # a zombie is dead, only not reaped yet
                    return True
    return False


def _gone(port: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while _java_running_on(port):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL], ids=["TERM", "INT", "KILL"])
def test_python_m_local_leaves_no_java_behind(sig, tmp_path):
    """Ctrl-C / SIGTERM stop everything; even SIGKILL (no atexit) takes the JVM down with it."""
    env = {**os.environ, "PYTHONPATH": f"{ROOT}:{ROOT / 'layers' / 'credits'}", "CREDITS_API_KEYS": "k1:acct_1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "local", "--port", "0", "--lambda-port", "0", "--dynamodb-port", "0",
         "--events-port", "0", "--data-dir", str(tmp_path / "data"), "--quiet"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    port = None
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and port is None:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            match = re.search(r"DynamoDB Local http://127\.0\.0\.1:(\d+)", line)
            if match:
                port = int(match.group(1))
        assert port, "".join(lines)
        assert _java_running_on(port)
        proc.send_signal(sig)
        assert proc.wait(timeout=20) == (-9 if sig == signal.SIGKILL else 0)
        assert _gone(port)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


# ---------------------------------------------------------------------------------------------
# Schedule and environment
# ---------------------------------------------------------------------------------------------


def test_scheduler_sends_scheduled_events(stack):
    from local.schedule import Scheduler

    sweep = Recorder(lambda e: None)
    with stack.runtime.override("ExpiryFunction", sweep):
        scheduler = Scheduler(stack.runtime, interval=0.1).start()
        try:
            event = sweep.wait(lambda e: True, timeout=5)
        finally:
            scheduler.stop()
    # Every function with a schedule in the template: the sweep, and TestClockFunction's resume of stalled clocks.
    assert scheduler.functions == ["ExpiryFunction", "TestClockFunction"]
    assert event["detail-type"] == "Scheduled Event" and event["source"] == "aws.scheduler"
    assert event["detail"] == {} and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", event["time"])


def test_stack_environment_is_set_only_while_active(stack):
    assert os.environ["TABLE_NAME"] == stack.table_name
    assert os.environ["DYNAMODB_ENDPOINT_URL"] == stack.dynamodb_url
    assert os.environ["EVENTS_ENDPOINT_URL"] == stack.events_url
    assert os.environ["ENABLE_SWAGGER"] == "true" and os.environ["EXPIRING_SOON_LEAD_DAYS"] == "7"
    stack.deactivate()
    try:
        assert os.environ.get("EVENTS_ENDPOINT_URL") != stack.events_url
    finally:
        stack.activate()


def test_concurrent_requests_of_two_accounts_never_mix(api: Any) -> None:
    """Many requests at once, half of each account: every one answers 200 with its own account's
    grant only (each function runs one invocation at a time, as one Lambda environment does;
    a resolver shared between concurrent calls once answered 500 or read another call's event)."""
    from concurrent.futures import ThreadPoolExecutor

    from tests.e2e.helpers import new_customer

    customer = new_customer()
    own = {}
    for key in ("key_a", "key_b"):
        body = {"customerId": customer, "name": key, "type": "CASH", "amount": "1.00", "currency": "USD"}
        own[key] = api("POST", "/credit-grants", key=key, json=body).json()["id"]

    def read(i: int) -> tuple[str, int, list[str]]:
        key = ("key_a", "key_b")[i % 2]
        response = api("GET", "/credit-grants", key=key, params={"customerId": customer})
        return key, response.status_code, [g["id"] for g in response.json().get("items", [])]

    def write(i: int) -> tuple[str, int, str]:
        # Another function at the same time: the resolvers of all functions share their state.
        key = ("key_a", "key_b")[i % 2]
        response = api("POST", "/credit-grants", key=key, json={
            "customerId": f"{customer}_{i}", "name": key, "type": "CASH", "amount": "1.00", "currency": "USD"})
        return key, response.status_code, response.json().get("id", "")

    with ThreadPoolExecutor(16) as pool:
        reads = pool.map(read, range(160))
        writes = pool.map(write, range(40))
        results, created = list(reads), list(writes)
    assert all(status == 200 for _, status, _ in results), [r for r in results if r[1] != 200][:3]
    assert all(ids == [own[key]] for key, _, ids in results)
    assert all(status == 201 for _, status, _ in created), created[:3]
    for key, _, grant_id in created:  # each grant landed in the account of the key that made it
        assert api("GET", f"/credit-grants/{grant_id}", key=key).status_code == 200


def test_functions_behind_the_api_never_run_at_once_but_background_ones_do() -> None:
    """Powertools keeps the current request on the resolver class, shared by every function in
    the local process: the API's functions take turns; the sweep and the publisher need not."""
    from local.lambdas import FunctionRuntime

    runtime = FunctionRuntime(functions())
    active: dict[str, int] = {"api": 0, "api_max": 0, "overlap": 0}
    lock = threading.Lock()

    def handler(kind: str):
        def run(event: Any, context: Any) -> None:
            with lock:
                active[kind] = active.get(kind, 0) + 1
                if kind == "api":
                    active["api_max"] = max(active["api_max"], active["api"])
                elif active["api"]:
                    active["overlap"] += 1
            time.sleep(0.05)
            with lock:
                active[kind] -= 1
        return run

    names = {"GrantFunction": "api", "ListFunction": "api", "VoidFunction": "api", "ApplyFunction": "api",
             "ExpiryFunction": "background"}
    threads = []
    from contextlib import ExitStack

    with ExitStack() as stack:
        for name, kind in names.items():
            stack.enter_context(runtime.override(name, handler(kind)))
        for _ in range(3):
            for name in names:
                threads.append(threading.Thread(target=runtime.invoke, args=(name, {})))
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert active["api_max"] == 1
    assert active["overlap"] > 0
