"""The table `local.template.create_table` makes from template.yaml — on moto and on DynamoDB
Local — has the template's keys, indexes and stream."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from local.template import create_table, load_template, table_properties

TEMPLATE = load_template()
PROPS = table_properties(TEMPLATE)
CREDS = {"region_name": "us-east-1", "aws_access_key_id": "local", "aws_secret_access_key": "local"}


@pytest.fixture(scope="module", params=["moto", "dynamodb-local"])
def ddb(request: pytest.FixtureRequest) -> Iterator[Any]:
    if request.param == "moto":
        from moto import mock_aws

        with mock_aws():
            yield boto3.client("dynamodb", **CREDS)
        return
    if not shutil.which("java"):
        pytest.skip("DynamoDB Local needs Java")
    from local.dynamodb import start_dynamodb

    handle = start_dynamodb(0)
    try:
        yield handle.client()
    finally:
        handle.stop()


@pytest.fixture(scope="module")
def table(ddb: Any) -> dict[str, Any]:
    name = f"credits-infra-{uuid.uuid4().hex[:8]}"
    create_table(ddb, name, TEMPLATE)
    return ddb.describe_table(TableName=name)["Table"]


def _keys(schema: list[dict[str, str]]) -> list[tuple[str, str]]:
    return [(k["AttributeName"], k["KeyType"]) for k in schema]


def test_base_table_keys(table):
    assert _keys(table["KeySchema"]) == [("PK", "HASH"), ("SK", "RANGE")]
    assert _keys(table["KeySchema"]) == _keys(PROPS["KeySchema"])
    types = {a["AttributeName"]: a["AttributeType"] for a in table["AttributeDefinitions"]}
    assert types == {a["AttributeName"]: a["AttributeType"] for a in PROPS["AttributeDefinitions"]}


def test_global_secondary_indexes_match_the_template(table):
    actual = {g["IndexName"]: g for g in table["GlobalSecondaryIndexes"]}
    assert set(actual) == {"GSI1", "GSI2", "GSI3"}
    for expected in PROPS["GlobalSecondaryIndexes"]:
        index = actual[expected["IndexName"]]
        n = expected["IndexName"][-1]
        assert _keys(index["KeySchema"]) == [(f"GSI{n}PK", "HASH"), (f"GSI{n}SK", "RANGE")]
        assert _keys(index["KeySchema"]) == _keys(expected["KeySchema"])
        assert index["Projection"]["ProjectionType"] == expected["Projection"]["ProjectionType"]


def test_billing_mode_and_stream(table):
    assert table.get("BillingModeSummary", {}).get("BillingMode", "PAY_PER_REQUEST") == PROPS["BillingMode"]
    assert table["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
    assert table.get("LatestStreamArn")


def test_short_tags_are_kept_as_long_form():
    glob_env = TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]
    assert glob_env["TABLE_NAME"] == {"Ref": "CreditsTable"}
    stream = TEMPLATE["Resources"]["PublisherFunction"]["Properties"]["Events"]["TableStream"]["Properties"]["Stream"]
    assert stream == {"Fn::GetAtt": ["CreditsTable", "StreamArn"]}
