"""The DynamoDB client, the table it is used on, and the wire codec (plain Python values <->
DynamoDB attribute values)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import boto3
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.config import Config

from credits.settings import Settings

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def to_wire(item: dict[str, Any]) -> dict[str, Any]:
    return {k: _serializer.serialize(v) for k, v in item.items()}


def from_wire(item: dict[str, Any]) -> dict[str, Any]:
    return {k: _deserializer.deserialize(v) for k, v in item.items()}


def make_client(settings: Settings):
    return boto3.client(
        "dynamodb",
        endpoint_url=settings.dynamodb_endpoint_url,
        config=Config(retries={"max_attempts": 5, "mode": "standard"}, tcp_keepalive=True),
    )


# The most items a Query page is asked for (DynamoDB also stops a page at 1 MB).
MAX_PAGE = 1000


def paged_items(client, kwargs: dict[str, Any], first: dict[str, Any] | None = None, *,
                doubling: bool = False) -> Iterator[dict[str, Any]]:
    """Every item a Query matches, page after page, read as the caller takes them. `first`: its
    first response, when that was sent already; `doubling`: each next page asks for twice the
    last one's Limit (up to MAX_PAGE), for a reader that usually stops early."""
    response = client.query(**kwargs) if first is None else first
    while True:
        for raw in response.get("Items", []):
            yield from_wire(raw)
        if "LastEvaluatedKey" not in response:
            return
        kwargs = {**kwargs, "ExclusiveStartKey": response["LastEvaluatedKey"]}
        if doubling:
            kwargs["Limit"] = min(kwargs["Limit"] * 2, MAX_PAGE)
        response = client.query(**kwargs)


_CLIENT_LOCK = threading.Lock()
_MAX_PARTITION_KEY_BYTES, _MAX_SORT_KEY_BYTES = 2048, 1024


class Table:
    """The service's table through one client, made on first use: what every store reads an item
    with. The repository (store/dynamo.py) is one; the authorizer's API-key store reads through a
    bare one, so its cold start never imports the repository module (BENCHMARKS.md "Cold start")."""

    def __init__(self, settings: Settings, client=None):
        self.settings = settings
        self.table = settings.table_name
        self._client = client

    @property
    def client(self):
        if self._client is None:
            # The sweep's shard threads ask at once on a cold start: make one client, not four.
            with _CLIENT_LOCK:
                if self._client is None:
                    self._client = make_client(self.settings)
        return self._client

    def get_item(self, key: dict[str, str]) -> dict[str, Any] | None:
        # DynamoDB refuses a key over its size limits, so no item has one: such an id (from a
        # path) is simply not found.
        if len(key["PK"].encode()) > _MAX_PARTITION_KEY_BYTES or len(key["SK"].encode()) > _MAX_SORT_KEY_BYTES:
            return None
        response = self.client.get_item(TableName=self.table, Key=to_wire(key), ConsistentRead=True)
        return from_wire(response["Item"]) if "Item" in response else None
