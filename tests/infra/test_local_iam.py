"""The local stack's IAM check (local/iam.py): each function's Policies from template.yaml,
SAM policy templates expanded by samtranslator, checked per call as AWS would."""

from __future__ import annotations

import copy
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from local.iam import LocalResources, denied, function_policy, install_check, required_permissions
from local.template import load_template

TABLE_ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/credits-local"
NAMES = {"CreditsTable": "credits-local", "CreditsEventBus": "credits-local"}


def _policy(function: str, template: dict[str, Any] | None = None):
    template = template or load_template()
    return function_policy(template, function, LocalResources(template, dict(NAMES)))


def test_transact_write_items_needs_each_items_own_action():
    needed = required_permissions("dynamodb", "TransactWriteItems", {"TransactItems": [
        {"ConditionCheck": {"TableName": "credits-local"}}, {"Put": {"TableName": "credits-local"}},
        {"Update": {"TableName": "credits-local"}}, {"Delete": {"TableName": "credits-local"}}]})
    assert [a for a, _ in needed] == ["dynamodb:ConditionCheckItem", "dynamodb:PutItem",
                                      "dynamodb:UpdateItem", "dynamodb:DeleteItem"]
    assert {r for _, r in needed} == {TABLE_ARN}


def test_a_query_on_an_index_needs_the_index_arn():
    needed = required_permissions("dynamodb", "Query", {"TableName": "credits-local", "IndexName": "GSI1"})
    assert needed == [("dynamodb:Query", f"{TABLE_ARN}/index/GSI1")]


def test_sam_policy_templates_expand_to_the_local_arns():
    read_only = _policy("ListFunction")
    assert read_only.allows("dynamodb:Query", f"{TABLE_ARN}/index/GSI1")
    assert read_only.allows("dynamodb:GetItem", TABLE_ARN)
    assert not read_only.allows("dynamodb:DeleteItem", TABLE_ARN)
    assert not read_only.allows("dynamodb:GetItem", "arn:aws:dynamodb:us-east-1:123456789012:table/another")
    publisher = _policy("PublisherFunction")
    assert publisher.allows("events:PutEvents", "arn:aws:events:us-east-1:123456789012:event-bus/credits-local")
    assert not publisher.allows("events:PutEvents", "arn:aws:events:us-east-1:123456789012:event-bus/default")
    # The publisher reads and moves balance watches and makes top-up grants (README "Balance alerts"), but
    # never deletes.
    assert not publisher.allows("dynamodb:DeleteItem", TABLE_ARN)


def test_the_list_function_may_write_report_snapshots_and_nothing_else():
    policy = _policy("ListFunction")
    assert not denied(policy, "dynamodb", "PutItem", {"TableName": "credits-local"})
    assert denied(policy, "dynamodb", "UpdateItem", {"TableName": "credits-local"})
    assert denied(policy, "dynamodb", "TransactWriteItems",
                  {"TransactItems": [{"Put": {"TableName": "credits-local"}}, {"Delete": {"TableName": "credits-local"}}]}) \
        == [("dynamodb:DeleteItem", TABLE_ARN)]


def test_a_plain_statement_with_an_action_removed_denies_that_action():
    template = load_template()
    without = copy.deepcopy(template)
    statements = [s for policy in without["Resources"]["ListFunction"]["Properties"]["Policies"]
                  for s in policy.get("Statement", [])]
    granting = [s for s in statements if "dynamodb:PutItem" in s["Action"]]
    assert len(granting) == 1, "ListFunction's policy changed: adapt this test"
    granting[0]["Action"] = [a for a in granting[0]["Action"] if a != "dynamodb:PutItem"]
    assert not denied(_policy("ListFunction", template), "dynamodb", "PutItem", {"TableName": "credits-local"})
    assert denied(_policy("ListFunction", without), "dynamodb", "PutItem", {"TableName": "credits-local"}) \
        == [("dynamodb:PutItem", TABLE_ARN)]


def test_the_botocore_hook_raises_access_denied_before_the_call_is_sent():
    """In a worker process every client is checked; here the hook is installed on this process
    for one client against an address that nothing listens on: the error must come first."""
    import botocore.session

    original = botocore.session.Session.create_client
    seen: list[tuple[str, str]] = []
    try:
        install_check(_policy("ListFunction"), on_denied=lambda a, r: seen.append((a, r)))
        client = boto3.client("dynamodb", endpoint_url="http://127.0.0.1:9", region_name="us-east-1",
                              aws_access_key_id="x", aws_secret_access_key="x")
        with pytest.raises(ClientError) as raised:
            client.delete_item(TableName="credits-local", Key={"PK": {"S": "a"}, "SK": {"S": "b"}})
    finally:
        botocore.session.Session.create_client = original
    assert raised.value.response["Error"]["Code"] == "AccessDeniedException"
    assert "dynamodb:DeleteItem" in raised.value.response["Error"]["Message"]
    assert seen == [("dynamodb:DeleteItem", TABLE_ARN)]
