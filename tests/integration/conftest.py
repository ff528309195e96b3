"""DynamoDB Local for integration tests: one JVM per test session (per xdist worker), a fresh
table per test, created from template.yaml by the same code as the local stack."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from typing import Any, NamedTuple

import pytest

from local.dynamodb import DynamoDBLocal, client_kwargs, start_dynamodb
from local.template import create_table


class LocalTable(NamedTuple):
    """Unpacks as (client, table_name); `.resource` / `.table` for the higher-level API."""

    client: Any
    name: str

    @property
    def endpoint_url(self) -> str:
        return self.client.meta.endpoint_url

    @property
    def resource(self) -> Any:
        import boto3

        return boto3.resource("dynamodb", **client_kwargs(self.endpoint_url))

    @property
    def table(self) -> Any:
        return self.resource.Table(self.name)


@pytest.fixture(scope="session")
def dynamodb_local() -> Iterator[DynamoDBLocal | str]:
    """A DynamoDB Local on a free port; `CREDITS_TEST_DYNAMODB_URL` reuses a running one."""
    external = os.environ.get("CREDITS_TEST_DYNAMODB_URL")
    if external:
        yield external
        return
    if not shutil.which("java"):
        pytest.skip("DynamoDB Local needs Java (java not on PATH)")
    handle = start_dynamodb(0)
    try:
        yield handle
    finally:
        handle.stop()


@pytest.fixture
def dynamodb_url(dynamodb_local: DynamoDBLocal | str) -> str:
    return dynamodb_local if isinstance(dynamodb_local, str) else dynamodb_local.endpoint_url


@pytest.fixture
def table(dynamodb_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalTable]:
    """A fresh, uniquely named table with template.yaml's schema; the environment points the
    core package at it (TABLE_NAME, DYNAMODB_ENDPOINT_URL, fake credentials)."""
    import boto3

    name = f"credits-test-{uuid.uuid4().hex[:12]}"
    client = boto3.client("dynamodb", **client_kwargs(dynamodb_url))
    create_table(client, name)
    for key, value in {
        "TABLE_NAME": name,
        "CURSOR_SECRET": "integration-test-cursor-secret",
        "DYNAMODB_ENDPOINT_URL": dynamodb_url,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    _reset_core_caches()
    try:
        yield LocalTable(client, name)
    finally:
        _reset_core_caches()
        try:
            client.delete_table(TableName=name)
        except Exception:  # noqa: BLE001 - DynamoDB Local may already be gone at session end
            pass


def _reset_core_caches() -> None:
    """The core package caches settings and its repository per process: forget them."""
    try:
        from credits.container import reset
    except ImportError:
        return
    reset()
