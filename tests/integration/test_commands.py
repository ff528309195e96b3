"""EventBridge commands on DynamoDB Local: grant / void / apply by command, the event id as idempotency
key, rejected commands reported as command_failed (fake publisher) and not retried, transient
failures raised; plus the schedule routes through GrantFunction / ListFunction's handlers."""

from __future__ import annotations

import copy
import importlib.util
import json
import uuid
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
GRANT = {"customerId": "cus_1", "name": "Welcome credits", "type": "CASH", "amount": "50.00", "currency": "USD"}


class FakePublisher:
    def __init__(self) -> None:
        self.events: list[Any] = []
        self.fail = False

    def publish(self, events: list[Any]) -> list[bool]:
        if self.fail:
            return [False] * len(events)
        self.events.extend(e if isinstance(e, dict) else e.model_dump(mode="json") for e in events)
        return [True] * len(events)

    def failures(self) -> list[dict[str, Any]]:
        return [e for e in self.events if e["type"] == "account.credits.command_failed"]


@pytest.fixture
def published(table, monkeypatch: pytest.MonkeyPatch):
    """The integration tier's fresh DynamoDB Local table, and a fake publisher."""
    monkeypatch.delenv("EVENTS_ENDPOINT_URL", raising=False)
    from credits.events import commands as command_handling

    fake = FakePublisher()
    monkeypatch.setattr(command_handling, "publisher", lambda: fake)
    yield fake


def command(detail_type: str, detail: Any, event_id: str | None = None) -> dict[str, Any]:
    return {"version": "0", "id": event_id or str(uuid.uuid4()), "detail-type": detail_type,
            "source": "billing.system", "account": "123456789012", "time": "2026-01-01T00:00:00Z",
            "region": "us-east-1", "resources": [], "detail": detail}


class Context:
    """What Lambda passes as `context` (Powertools' logger and idempotency read it)."""

    function_name = "GrantFunction"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:GrantFunction"
    aws_request_id = "req-1"

    def get_remaining_time_in_millis(self) -> int:
        return 29_000


def handle(event: dict[str, Any]) -> Any:
    from credits.events.commands import handle_command

    return handle_command(copy.deepcopy(event), Context())


def grants(account: str = "acct_a", customer: str = "cus_1"):
    from credits import container

    return container.repository().customer_grants(account, customer)


def load_function(name: str):
    spec = importlib.util.spec_from_file_location(f"test_fn_{name}_{uuid.uuid4().hex[:6]}",
                                                  ROOT / "functions" / name / "app.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ---------------------------------------------------------------- grant


def test_grant_by_command_returns_the_grant(published):
    result = handle(command("Grant Credits", {"accountId": "acct_a", "grant": GRANT}))
    assert result["id"].startswith("cg_") and result["accountId"] == "acct_a"
    assert result["originalAmount"] == "50.00" and result["status"] == "ACTIVE"
    assert [g.id for g in grants()] == [result["id"]]
    assert published.failures() == []


def test_same_event_twice_acts_once(published):
    event = command("Grant Credits", {"accountId": "acct_a", "grant": GRANT})
    first, second = handle(event), handle(event)
    assert first == second
    assert len(grants()) == 1


def test_a_grant_command_runs_once_even_without_its_idempotency_record(published):
    """Powertools' record of the command can be lost after the grant committed (a fault on its
    save): the grant's own create-once claim, keyed by the command id, still makes it once."""
    from credits.events.commands import execute

    detail = {"accountId": "acct_a", "grant": GRANT}
    first = execute("Grant Credits", detail, "cmd-lost-record")
    again = execute("Grant Credits", detail, "cmd-lost-record")
    other = execute("Grant Credits", detail, "cmd-another")
    assert first["id"] == again["id"] != other["id"]
    assert len(grants()) == 2


def test_same_id_with_another_detail_is_rejected(published):
    event = command("Grant Credits", {"accountId": "acct_a", "grant": GRANT})
    handle(event)
    other = {**event, "detail": {"accountId": "acct_a", "grant": {**GRANT, "amount": "99.00"}}}
    result = handle(other)
    assert result["error"]["code"] == "conflict"
    assert len(grants()) == 1 and len(published.failures()) == 1


@pytest.mark.parametrize("detail, field", [
    ({"accountId": "acct_a", "grant": {**GRANT, "amount": 50}}, "detail.grant.amount"),  # JSON number
    ({"accountId": "acct_a", "grant": {**GRANT, "bogus": "x"}}, "detail.grant.bogus"),
    ({"grant": GRANT}, "detail.accountId"),
    ({"accountId": "acct_a", "grant": {**GRANT, "currency": "XXX"}}, "currency"),  # a domain 400
    ("not an object", "detail"),
])
def test_invalid_command_reports_command_failed_and_grants_nothing(published, detail, field):
    event = command("Grant Credits", detail)
    result = handle(event)  # returns normally: not retried
    assert result["error"]["code"] == "validation_error"
    assert any(field in d["field"] for d in result["error"]["details"]), result
    [failed] = published.failures()
    assert failed["data"] == {"commandId": event["id"], "detailType": "Grant Credits", "error": result}
    assert failed["id"].startswith("evt_")
    assert grants() == []


def test_unknown_detail_type_and_missing_id_are_rejected(published):
    assert handle(command("Grant Everything", {"accountId": "acct_a"}))["error"]["code"] == "validation_error"
    event = command("Grant Credits", {"accountId": "acct_a", "grant": GRANT})
    del event["id"]
    assert handle(event)["error"]["details"][0]["field"] == "id"
    assert len(published.failures()) == 2 and grants() == []


def test_transient_failure_raises_and_the_redelivery_acts(published, monkeypatch):
    from credits import container

    event = command("Grant Credits", {"accountId": "acct_a", "grant": GRANT})
    service = container.grant_service()
    real = service.create

    def boom(*args, **kwargs):
        raise RuntimeError("DynamoDB unavailable")

    monkeypatch.setattr(service, "create", boom)
    with pytest.raises(RuntimeError):
        handle(event)
    monkeypatch.setattr(service, "create", real)
    assert handle(event)["id"].startswith("cg_")  # the failed attempt left no idempotency record
    assert len(grants()) == 1 and published.failures() == []


def test_unpublishable_failure_raises_so_it_is_retried(published):
    published.fail = True
    with pytest.raises(RuntimeError):
        handle(command("Grant Credits", {"accountId": "acct_a", "grant": {**GRANT, "amount": 1}}))


# ---------------------------------------------------------------- void


def test_void_by_command_and_another_accounts_grant(published):
    grant = handle(command("Grant Credits", {"accountId": "acct_a", "grant": GRANT}))
    theirs = command("Void Credit Grant", {"accountId": "acct_b", "grantId": grant["id"], "reason": "oops"})
    result = handle(theirs)
    assert result["error"]["code"] == "not_found"
    assert published.failures()[0]["data"]["commandId"] == theirs["id"]
    assert grants()[0].voided_at is None

    voided = handle(command("Void Credit Grant", {"accountId": "acct_a", "grantId": grant["id"], "reason": "oops"}))
    assert voided["status"] == "VOIDED" and voided["currentBalance"] == "0"


# ---------------------------------------------------------------- apply / settle / release


def test_apply_settle_release_by_command(published):
    pytest.importorskip("credits.services.applications")
    handle(command("Grant Credits", {"accountId": "acct_a", "grant": GRANT}))
    application = {"invoiceId": "inv_1", "customerId": "cus_1", "currency": "USD",
                   "lines": [{"lineId": "l1", "amount": "150.00"}]}
    applied = handle(command("Apply Credits", {"accountId": "acct_a", "application": application}))
    assert applied["creditsApplied"] == "50.00" and applied["totalDue"] == "100.00"
    assert applied["status"] == "PENDING"
    settled = handle(command("Settle Credit Application", {"accountId": "acct_a", "invoiceId": "inv_1"}))
    assert settled["status"] == "SETTLED"
    released = handle(command("Release Credit Application", {"accountId": "acct_a", "invoiceId": "inv_1"}))
    assert released["status"] == "RELEASED"
    missing = handle(command("Settle Credit Application", {"accountId": "acct_b", "invoiceId": "inv_1"}))
    assert missing["error"]["code"] == "not_found"


# ---------------------------------------------------------------- through the functions' handlers


def test_grant_function_routes_eventbridge_and_direct_invocations(published):
    grant_app = load_function("grant")
    event = command("Grant Credits", {"accountId": "acct_a", "grant": GRANT})
    via_bus = grant_app.lambda_handler(copy.deepcopy(event), Context())
    assert via_bus["id"].startswith("cg_") and "statusCode" not in via_bus
    direct = {k: v for k, v in event.items() if k != "source"}  # not an EventBridge envelope: direct path
    assert grant_app.lambda_handler(direct, Context()) == via_bus
    assert len(grants()) == 1
    void_app = load_function("void")
    voided = void_app.lambda_handler(command("Void Credit Grant", {"accountId": "acct_a", "grantId": via_bus["id"],
                                                                    "reason": "test"}), Context())
    assert voided["status"] == "VOIDED"


def api_event(method: str, path: str, body: Any = None, account: str = "acct_a", query: dict | None = None):
    return {
        "httpMethod": method, "path": path, "resource": path, "isBase64Encoded": False,
        "body": json.dumps(body) if body is not None else None,
        "headers": {"Content-Type": "application/json"}, "multiValueHeaders": {}, "pathParameters": None,
        "queryStringParameters": query, "multiValueQueryStringParameters": {k: [v] for k, v in (query or {}).items()} or None,
        "requestContext": {"requestId": str(uuid.uuid4()), "stage": "test", "httpMethod": method, "path": path,
                           "resourcePath": path, "authorizer": {"accountId": account}},
    }


def test_schedule_routes_through_the_handlers(published):
    grant_app, list_app = load_function("grant"), load_function("list")
    body = {"customerId": "cus_1", "interval": "MONTH", "expireAfterIntervals": 1,
            "grant": {"name": "Monthly", "type": "USAGE", "amount": "1000", "metricId": "api_calls"}}
    created = grant_app.lambda_handler(api_event("POST", "/credit-grant-schedules", body), Context())
    assert created["statusCode"] == 201, created
    schedule = json.loads(created["body"])
    assert schedule["id"].startswith("cgs_") and schedule["status"] == "ACTIVE" and schedule["intervalCount"] == 1
    assert schedule["nextGrantAt"] == schedule["startAt"] and schedule["endAt"] is None

    got = list_app.lambda_handler(api_event("GET", f"/credit-grant-schedules/{schedule['id']}"), Context())
    assert json.loads(got["body"]) == schedule
    other = list_app.lambda_handler(api_event("GET", f"/credit-grant-schedules/{schedule['id']}", account="acct_b"), Context())
    assert other["statusCode"] == 404 and json.loads(other["body"])["error"]["code"] == "not_found"
    listed = json.loads(list_app.lambda_handler(
        api_event("GET", "/credit-grant-schedules", query={"customerId": "cus_1"}), Context())["body"])
    assert [s["id"] for s in listed["items"]] == [schedule["id"]] and listed["pagination"]["totalResultSize"] == 1

    bad = grant_app.lambda_handler(api_event("POST", "/credit-grant-schedules",
                                             {**body, "grant": {**body["grant"], "expiresAt": "2030-01-01T00:00:00Z"}}), Context())
    assert bad["statusCode"] == 400
    bad = grant_app.lambda_handler(api_event("POST", "/credit-grant-schedules",
                                             {**body, "grant": {**body["grant"], "metricId": None}}), Context())
    assert bad["statusCode"] == 400 and json.loads(bad["body"])["error"]["details"][0]["field"] == "grant.metricId"

    canceled = grant_app.lambda_handler(api_event("POST", f"/credit-grant-schedules/{schedule['id']}/cancel"), Context())
    assert canceled["statusCode"] == 200
    assert json.loads(canceled["body"])["status"] == "CANCELED" and json.loads(canceled["body"])["nextGrantAt"] is None


# ---------------------------------------------------------------- events/ samples


def test_sample_command_events_run(published):
    from credits.events.commands import COMMANDS

    samples = {p.name: json.loads(p.read_text()) for p in sorted((ROOT / "events").glob("command-*.json"))}
    # One sample per command, and every command has one.
    assert len(samples) == len(COMMANDS) and {e["detail-type"] for e in samples.values()} == set(COMMANDS)
    for event in samples.values():
        model, _ = COMMANDS[event["detail-type"]]
        model.model_validate(event["detail"])
    granted = handle(samples["command-grant-credits.json"])
    assert granted["accountId"] == "acct_dev" and granted["status"] == "ACTIVE"


def test_sample_api_events_reach_their_routes(published):
    grant_app, list_app, void_app = load_function("grant"), load_function("list"), load_function("void")
    for name, function, status in [("grant-create.json", grant_app, 201), ("grant-create-schedule.json", grant_app, 201),
                                   ("list-grants.json", list_app, 200), ("list-schedules.json", list_app, 200),
                                   ("void-grant.json", void_app, 404)]:  # the sample's grant id does not exist here
        result = function.lambda_handler(json.loads((ROOT / "events" / name).read_text()), Context())
        assert result["statusCode"] == status, (name, result)


@pytest.mark.parametrize("http_first", [True, False])
def test_commands_and_idempotency_keyed_requests_share_a_process(published, http_first):
    """Regression: one Powertools persistence layer for both kinds of key broke whichever ran second."""
    grant_app = load_function("grant")

    def keyed_post(key: str) -> dict[str, Any]:
        event = api_event("POST", "/credit-grants", {**GRANT, "customerId": "cus_keyed"})
        event["headers"]["Idempotency-Key"] = key
        return grant_app.lambda_handler(event, Context())

    def by_command() -> dict[str, Any]:
        return grant_app.lambda_handler(command("Grant Credits", {"accountId": "acct_a", "grant": GRANT}), Context())

    if http_first:
        assert keyed_post("k-1")["statusCode"] == 201
        assert by_command()["id"].startswith("cg_")
    else:
        assert by_command()["id"].startswith("cg_")
        assert keyed_post("k-1")["statusCode"] == 201
    replay = keyed_post("k-1")
    assert replay["statusCode"] == 201
    assert len(grants(customer="cus_keyed")) == 1 and len(grants()) == 1


def test_the_same_json_in_another_key_order_is_the_same_body(published):
    grant_app = load_function("grant")
    first = api_event("POST", "/credit-grants", GRANT)
    first["headers"]["Idempotency-Key"] = "order"
    second = api_event("POST", "/credit-grants", None)
    second["body"] = json.dumps(dict(reversed(list(GRANT.items()))), indent=2)
    second["headers"]["Idempotency-Key"] = "order"
    a, b = grant_app.lambda_handler(first, Context()), grant_app.lambda_handler(second, Context())
    assert (a["statusCode"], a["body"]) == (b["statusCode"], b["body"])
    assert len(grants()) == 1


def test_the_consumption_queue_reports_only_the_invalid_message_as_failed(published):
    """events/sqs-consumptions.json through ConsumeFunction: the valid message is consumed, the
    invalid one comes back as a partial batch failure (SQS redelivers it, then dead-letters it);
    the same batch again consumes nothing more (eventId)."""
    handle(command("Grant Credits", {"accountId": "acct_dev", "grant": {**GRANT, "customerId": "cus_demo",
                                                                        "type": "USAGE", "currency": None,
                                                                        "amount": "100", "metricId": "api_calls"}}))
    consume_app = load_function("consume")
    batch = json.loads((ROOT / "events" / "sqs-consumptions.json").read_text())
    first = consume_app.lambda_handler(copy.deepcopy(batch), Context())
    assert first == {"batchItemFailures": [{"itemIdentifier": batch["Records"][1]["messageId"]}]}
    again = consume_app.lambda_handler(copy.deepcopy(batch), Context())
    assert again == first
    [grant] = grants("acct_dev", "cus_demo")
    assert grant.current_balance == 90


def test_a_hot_customers_queue_batch_is_drawn_together_in_one_transaction(published):
    """On DynamoDB Local, through ConsumeFunction: ten messages of one customer balance are one
    transaction (the grant is written once), each consumption its own record and entry with its
    message as actor; an invalid message and a repeated eventId still go their own way."""
    from credits import container

    handle(command("Grant Credits", {"accountId": "acct_hot", "grant": {**GRANT, "customerId": "cus_hot",
                                                                        "type": "USAGE", "currency": None,
                                                                        "amount": "100", "metricId": "api_calls"}}))
    [before] = grants("acct_hot", "cus_hot")
    template = json.loads((ROOT / "events" / "sqs-consumptions.json").read_text())["Records"][0]

    def message(n: int, body: dict[str, Any]) -> dict[str, Any]:
        return {**template, "messageId": f"msg-{n}", "body": json.dumps({"accountId": "acct_hot", "consumption": body})}

    def use(event_id: str, quantity: str = "3") -> dict[str, Any]:
        return {"eventId": event_id, "customerId": "cus_hot", "metricId": "api_calls", "quantity": quantity}

    records = [message(n, use(f"hot_{n}")) for n in range(10)]
    records += [message(10, {"customerId": "cus_hot"}), message(11, use("hot_0")), message(12, use("hot_0", "4"))]
    result = load_function("consume").lambda_handler({"Records": records}, Context())
    # hot_0 again with the same body is a replay (done); with another body it is a conflict (failed).
    assert result == {"batchItemFailures": [{"itemIdentifier": "msg-10"}, {"itemIdentifier": "msg-12"}]}
    [after] = grants("acct_hot", "cus_hot")
    assert after.current_balance == 70
    repo = container.repository()
    entries = [e for e in repo.grant_ledger("acct_hot", "cus_hot", after.id) if e.type == "CONSUMED"]
    assert sorted(e.context["eventId"] for e in entries) == sorted(f"hot_{n}" for n in range(10))
    assert sorted(e.balance_after for e in entries) == list(range(70, 100, 3))
    # hot_1..hot_9 drawn together (one write of the grant); hot_0, sent three times, went alone (one more).
    assert after.version - before.version == 2
    actors = {repo.get_consumption("acct_hot", f"hot_{n}").actor["eventId"] for n in range(1, 10)}
    assert actors == {f"msg-{n}" for n in range(1, 10)}
