"""Account-wide listings over write-sharded GSI1 partitions (README "A hot customer").

One index partition takes about 1,000 write units a second, so an account-wide list written under
one GSI1 key (every ledger entry, grant, audit event or directory move of the account) would cap
the account's whole write rate there. Its items are spread over `keys.ACCOUNT_SHARDS` partitions
instead, and a read merges the shards by their sort key. Sort keys are unique across the shards
(ids and time-ordered ULIDs), so one sort-key value is a position in the whole list: a cursor, a
`starting_after` and a key range mean the same in every shard, and order and paging stay exact.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from credits.store.client import MAX_PAGE, paged_items, to_wire

Item = dict[str, Any]
_pool: ThreadPoolExecutor | None = None


def _executor() -> ThreadPoolExecutor:
    # The shards' first pages are read at once (one round trip's latency, not one per shard);
    # made on first use, so a function that never lists starts no threads.
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(max_workers=16, thread_name_prefix="shard")
    return _pool


def merged(client, *, table: str, partition_keys: list[str], low: str, high: str, descending: bool,
           page_hint: int, filter_expression: str | None = None, names: dict[str, str] | None = None,
           values: dict[str, Any] | None = None) -> Iterator[Item]:
    """Every item of the shards with low <= GSI1SK <= high, merged in GSI1SK order. Each shard is
    first asked for about its share of `page_hint` items, and read on only while the merge needs it."""
    limit = shard_limit(page_hint, len(partition_keys))
    requests = [{**_query(table, pk, low, high, filter_expression, names, values), "Limit": limit,
                 "ScanIndexForward": not descending} for pk in partition_keys]
    firsts = list(_executor().map(lambda kwargs: client.query(**kwargs), requests))
    # Each shard read on from its first response only while the merge needs it; later pages double.
    shards = [paged_items(client, kwargs, first, doubling=True) for kwargs, first in zip(requests, firsts, strict=True)]
    return heapq.merge(*shards, key=lambda item: item["GSI1SK"], reverse=descending)


def shard_limit(page_hint: int, shards: int) -> int:
    """How many items to ask each shard for first, so that one round trip nearly always fills the
    page. A page's items fall into the shards at random (hashed ids): a shard's share of n items is
    binomial with mean m = n / shards, and rarely passes m + 2.5·√m (some shard does on about 2 pages
    in 100). Asking each for its share + 1 alone sent a second Query to about a quarter of the
    shards of every 20-item page; the extra items read cost a fraction of a read unit."""
    mean = page_hint / max(1, shards)
    return max(2, min(MAX_PAGE, math.ceil(mean + 2.5 * math.sqrt(mean)) + 1))


def merged_page(client, *, table: str, partition_keys: list[str], low: str, high: str, limit: int,
                cursor: str | None, backwards: bool, newest_first: bool, **query: Any) -> tuple[list[Item], bool]:
    """Up to `limit` items in list order strictly after `cursor` (a GSI1SK value), or strictly
    before it when `backwards`; and whether the list goes on past the page."""
    descending = newest_first != backwards
    if cursor is not None:
        if descending:
            high = min(high, cursor)
        else:
            low = max(low, cursor)
    if low > high:
        return [], False
    items = merged(client, table=table, partition_keys=partition_keys, low=low, high=high,
                   descending=descending, page_hint=limit + 1, **query)
    # BETWEEN is inclusive: the cursor's own item is not part of the page.
    wanted = (item for item in items if item["GSI1SK"] != cursor)
    found = list(itertools.islice(wanted, limit + 1))
    more = len(found) > limit
    found = found[:limit]
    if backwards:
        found.reverse()
    return found, more


def merged_count(client, *, table: str, partition_keys: list[str], low: str, high: str,
                 filter_expression: str | None = None, names: dict[str, str] | None = None,
                 values: dict[str, Any] | None = None) -> int:
    """How many items of the shards match (Select COUNT per shard, the shards at once)."""
    return sum(_executor().map(
        lambda pk: count(client, _query(table, pk, low, high, filter_expression, names, values)), partition_keys))


def count(client, kwargs: dict[str, Any]) -> int:
    """How many items a Query matches (Select COUNT, page after page)."""
    kwargs = {**kwargs, "Select": "COUNT"}
    total = 0
    while True:
        response = client.query(**kwargs)
        total += response["Count"]
        if "LastEvaluatedKey" not in response:
            return total
        kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]


def _query(table: str, pk: str, low: str, high: str, filter_expression: str | None, names: dict[str, str] | None,
           values: dict[str, Any] | None) -> dict[str, Any]:
    """One shard's Query: its key range and the list's filter."""
    kwargs: dict[str, Any] = {
        "TableName": table, "IndexName": "GSI1",
        "KeyConditionExpression": "GSI1PK = :pk AND GSI1SK BETWEEN :low AND :high",
        "ExpressionAttributeValues": to_wire({**(values or {}), ":pk": pk, ":low": low, ":high": high}),
    }
    if filter_expression:
        kwargs["FilterExpression"] = filter_expression
    if names:
        kwargs["ExpressionAttributeNames"] = names
    return kwargs
