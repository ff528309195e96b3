"""Each function's IAM policy in template.yaml is explicit and least-privilege: inline statements
only (no SAM policy templates, no managed policies), no wildcard in any action or resource, the
DynamoDB actions its code paths call on the table, and Query on the indexes it reads only."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from local.template import load_template

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = load_template()
RESOURCES = TEMPLATE["Resources"]
FUNCTIONS = {name: r for name, r in RESOURCES.items() if r["Type"] == "AWS::Serverless::Function"}
TABLE_ARN = {"Fn::GetAtt": ["CreditsTable", "Arn"]}
BUS_ARN = {"Fn::GetAtt": ["CreditsEventBus", "Arn"]}

# What each function's code reaches (handlers + the layer's code paths), by resource. A
# transaction needs the per-item actions of its Put / Update / Delete items and nothing more;
# Powertools idempotency records need Get / Put / Update / Delete.
EXPECTED: dict[str, dict[str, set[str]]] = {
    "AuthorizerFunction": {"table": {"dynamodb:GetItem", "dynamodb:UpdateItem"}},
    "GrantFunction": {"table": {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"},
                      "bus": {"events:PutEvents"}},
    "ListFunction": {"table": {"dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:PutItem"},
                     "index/GSI1": {"dynamodb:Query"}},
    "VoidFunction": {"table": {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"},
                     "index/LSI1": {"dynamodb:Query"}, "bus": {"events:PutEvents"}},
    "ApplyFunction": {"table": {"dynamodb:GetItem", "dynamodb:Query", "dynamodb:PutItem", "dynamodb:UpdateItem",
                                "dynamodb:DeleteItem"},
                      "index/LSI1": {"dynamodb:Query"}, "bus": {"events:PutEvents"}},
    "ExpiryFunction": {"table": {"dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:PutItem",
                                 "dynamodb:UpdateItem"},
                       "index/GSI2": {"dynamodb:Query"}, "index/GSI3": {"dynamodb:Query"},
                       "index/LSI1": {"dynamodb:Query"}},
    "ConsumeFunction": {"table": {"dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:PutItem",
                                  "dynamodb:UpdateItem", "dynamodb:DeleteItem"},
                        "index/LSI1": {"dynamodb:Query"}, "bus": {"events:PutEvents"}},
    "PublisherFunction": {"table": {"dynamodb:GetItem", "dynamodb:Query", "dynamodb:PutItem", "dynamodb:UpdateItem"}, "bus": {"events:PutEvents"}, "dlq": {"sqs:SendMessage"}},
    "TestClockFunction": {"table": {"dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:PutItem",
                                    "dynamodb:UpdateItem", "dynamodb:DeleteItem",
                                    "dynamodb:ConditionCheckItem"},
                          "index/GSI1": {"dynamodb:Query"}, "index/GSI2": {"dynamodb:Query"},
                          "index/GSI3": {"dynamodb:Query"}, "index/LSI1": {"dynamodb:Query"}, "bus": {"events:PutEvents"}},
    # Serves the console's static files: no AWS call, so not one statement.
    "ConsoleFunction": {},
}


def _as_list(value):
    return value if isinstance(value, list) else [value]


def _statements(function: dict) -> list[dict]:
    statements = []
    for policy in function["Properties"].get("Policies", []):
        assert isinstance(policy, dict) and set(policy) == {"Statement"}, \
            f"only inline statements, no SAM policy template or managed policy: {policy}"
        statements += policy["Statement"]
    return statements


def _resource_name(resource) -> str:
    if resource == TABLE_ARN:
        return "table"
    if resource == BUS_ARN:
        return "bus"
    if resource == {"Fn::GetAtt": ["PublisherDeadLetterQueue", "Arn"]}:
        return "dlq"
    if isinstance(resource, dict) and "Fn::Sub" in resource:
        match = re.fullmatch(r"\$\{CreditsTable\.Arn\}/(index/[A-Z0-9]+)", resource["Fn::Sub"])
        if match:
            return match.group(1)
    raise AssertionError(f"unexpected resource {resource}")


def _granted(function: dict) -> dict[str, set[str]]:
    granted: dict[str, set[str]] = {}
    for statement in _statements(function):
        assert statement["Effect"] == "Allow" and set(statement) == {"Effect", "Action", "Resource"}, statement
        for resource in _as_list(statement["Resource"]):
            granted.setdefault(_resource_name(resource), set()).update(_as_list(statement["Action"]))
    return granted


def test_every_function_is_listed():
    assert set(FUNCTIONS) == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_policy_has_only_explicit_actions_on_named_resources(name):
    statements = _statements(FUNCTIONS[name])
    assert "Policies" in FUNCTIONS[name]["Properties"], f"{name}: Policies must be explicit (even if empty)"
    assert bool(statements) == bool(EXPECTED[name]), f"{name} has no policy statements"
    text = json.dumps(statements)
    assert "*" not in text, f"{name}: a wildcard in an action or resource: {text}"
    for statement in statements:
        for action in _as_list(statement["Action"]):
            assert re.fullmatch(r"(dynamodb|events|sqs|lambda):[A-Z][A-Za-z]+", action), action


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_policy_grants_exactly_what_the_function_uses(name):
    assert _granted(FUNCTIONS[name]) == EXPECTED[name]


def test_indexes_are_granted_for_query_only_and_exist():
    table = RESOURCES["CreditsTable"]["Properties"]
    indexes = {i["IndexName"] for i in table["GlobalSecondaryIndexes"] + table["LocalSecondaryIndexes"]}
    for name, function in FUNCTIONS.items():
        for resource, actions in _granted(function).items():
            if resource.startswith("index/"):
                assert resource.removeprefix("index/") in indexes, (name, resource)
                assert actions == {"dynamodb:Query"}, (name, resource, actions)


def test_list_function_may_write_report_snapshots_but_not_delete():
    granted = _granted(FUNCTIONS["ListFunction"])["table"]
    assert "dynamodb:PutItem" in granted  # GET /reports/credits saves report snapshot items
    assert not granted & {"dynamodb:DeleteItem", "dynamodb:UpdateItem", "dynamodb:BatchWriteItem"}


def test_no_function_can_scan_or_change_the_table():
    forbidden = {"dynamodb:Scan", "dynamodb:DeleteTable", "dynamodb:UpdateTable", "dynamodb:BatchWriteItem"}
    for name, function in FUNCTIONS.items():
        assert not forbidden & set().union(*_granted(function).values()), name


def test_layer_calls_only_actions_some_function_is_granted():
    """Every DynamoDB operation written in the layer maps to an action granted to a function
    (a new call without a grant fails here before it fails in AWS)."""
    calls = set()
    for path in (ROOT / "layers" / "credits" / "credits").rglob("*.py"):
        calls |= set(re.findall(r"\.(get_item|put_item|update_item|delete_item|query|batch_get_item|"
                                r"batch_write_item|scan|transact_write_items|transact_get_items)\(", path.read_text()))
    assert calls, "found no DynamoDB call in the layer"
    granted = set().union(*(set().union(*_granted(f).values()) for f in FUNCTIONS.values()))
    for call in calls:
        if call == "transact_write_items":
            continue  # authorized per item: Put / Update / Delete / ConditionCheck actions
        action = "dynamodb:" + "".join(part.capitalize() for part in call.split("_"))
        assert action in granted, f"the layer calls {call} but no function is granted {action}"


def test_cursor_secret_is_generated_per_stack_and_passed_to_every_function():
    variables = TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]
    assert variables["CURSOR_SECRET"] == {"Fn::Sub": "{{resolve:secretsmanager:${CursorSigningSecret}:SecretString}}"}
    secret = RESOURCES["CursorSigningSecret"]
    assert secret["Type"] == "AWS::SecretsManager::Secret"
    assert secret["Properties"]["GenerateSecretString"]["PasswordLength"] >= 32
    assert not any("cursor" in p.lower() for p in TEMPLATE["Parameters"]), "no secret in a parameter default"
    for name, function in FUNCTIONS.items():
        assert "CURSOR_SECRET" not in (function["Properties"].get("Environment") or {}).get("Variables", {}), name


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_function_logs_to_its_own_group_with_retention(name):
    group = FUNCTIONS[name]["Properties"]["LoggingConfig"]["LogGroup"]
    logical_id = group["Ref"]
    assert RESOURCES[logical_id]["Type"] == "AWS::Logs::LogGroup"
    assert RESOURCES[logical_id]["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}


def test_asynchronously_invoked_functions_keep_failed_events():
    for name, function in FUNCTIONS.items():
        events = function["Properties"].get("Events", {}).values()
        asynchronous = any(e["Type"] in ("EventBridgeRule", "Schedule", "ScheduleV2") for e in events)
        if asynchronous:
            assert function["Properties"]["DeadLetterQueue"] == {
                "Type": "SQS", "TargetArn": {"Fn::GetAtt": ["AsyncInvokeDeadLetterQueue", "Arn"]}}, name


def test_every_alarm_is_explained_in_the_readme():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Operations: alarms", 1)[1].split("\n## ", 1)[0]
    alarms = [n for n, r in RESOURCES.items() if r["Type"] == "AWS::CloudWatch::Alarm"]
    assert alarms
    for alarm in alarms:
        assert f"| `{alarm}` |" in section, f"README 'Operations: alarms' has no line for {alarm}"


def test_every_queue_is_encrypted():
    for name, resource in RESOURCES.items():
        if resource["Type"] == "AWS::SQS::Queue":
            assert resource["Properties"].get("SqsManagedSseEnabled") is True, name


def test_a_revoked_key_stops_working_within_a_minute_whatever_the_authorizer_cache():
    """API Gateway caches the authorizer's answer for ReauthorizeEvery seconds: a revoked key
    keeps working that long. The contract allows a minute at most (README "API keys")."""
    from local.template import authorizers

    specs = authorizers()
    assert specs and all(0 <= spec.ttl_seconds <= 60 for spec in specs.values())
