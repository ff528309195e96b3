"""Queries of the Stripe view: newest-first id-cursor pages of CASH grants and of ledger entries.

Grant ids and entry ids are time-ordered ULIDs and end the sort keys (`GRANT#<id>`, `TXN#<id>`,
GSI1SK = grant id), so Stripe's `starting_after` / `ending_before` become a key range: no cursor
item needs to exist or be read, and paging stays stable while new items are written.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from credits.domain.records import GrantRecord, LedgerRecord
from credits.store import items as mapping
from credits.store import keys, sharded
from credits.store.dynamo import DynamoRepository, query_page, to_wire

_HIGH = "\uffff"  # sorts after every id character


def _id_page(repo: DynamoRepository, *, key_condition: str, key_name: str, prefix: str, sk_of: Callable[[str], str],
             pk: dict[str, Any],
             starting_after: str | None, ending_before: str | None, limit: int, filters: list[str],
             values: dict[str, Any], names: dict[str, str],
             keep: Callable[[dict[str, Any]], bool] | None = None) -> tuple[list[dict[str, Any]], bool]:
    """One page of a customer partition, newest first: items strictly older than `starting_after`, or strictly newer than
    `ending_before` (read oldest first, then reversed). Returns (items, has_more)."""
    backwards = ending_before is not None
    cursor = ending_before if backwards else starting_after
    low, high = prefix, prefix + _HIGH
    if cursor is not None:
        if backwards:
            low = sk_of(cursor)
        else:
            high = sk_of(cursor)
    # An id outside this listing's key range (`a`, `zzz`) has nothing before or after it here: an
    # empty page, not a BETWEEN that DynamoDB refuses.
    low, high = max(low, prefix), min(high, prefix + _HIGH)
    if low > high:
        return [], False
    kwargs: dict[str, Any] = {
        "TableName": repo.table,
        "KeyConditionExpression": f"{key_condition} AND #sk BETWEEN :low AND :high",
        "ScanIndexForward": backwards,
        "ConsistentRead": True,
    }
    names = {**names, "#sk": key_name}
    if filters:
        kwargs["FilterExpression"] = " AND ".join(filters)
    kwargs["ExpressionAttributeNames"] = names
    kwargs["ExpressionAttributeValues"] = to_wire({**pk, **values, ":low": low, ":high": high})
    def wanted(item: dict[str, Any]) -> bool:
        # BETWEEN is inclusive; the cursor itself is not part of the page.
        if cursor is not None and item[key_name] == sk_of(cursor):
            return False
        return keep is None or keep(item)

    found, has_more = query_page(repo.client, kwargs, limit, wanted)
    if backwards:
        found.reverse()
    return found, has_more


class DynamoStripeStore:
    """The StripeStore port (services/ports.py) over the customer partitions and GSI1."""

    def __init__(self, repo: DynamoRepository):
        self.repo = repo

    def list_cash_grants(self, account_id: str, customer_id: str | None, *, limit: int,
                         starting_after: str | None = None, ending_before: str | None = None,
                         ) -> tuple[list[GrantRecord], bool]:
        return list_cash_grants(self.repo, account_id, customer_id, limit=limit, starting_after=starting_after,
                                ending_before=ending_before)

    def list_balance_entries(self, account_id: str, customer_id: str, *, types: tuple[str, ...], grant_ids: set[str],
                             limit: int, starting_after: str | None = None, ending_before: str | None = None,
                             ) -> tuple[list[LedgerRecord], bool]:
        return list_balance_entries(self.repo, account_id, customer_id, types=types, grant_ids=grant_ids, limit=limit,
                                    starting_after=starting_after, ending_before=ending_before)


def list_cash_grants(repo: DynamoRepository, account_id: str, customer_id: str | None, *, limit: int,
                     starting_after: str | None = None, ending_before: str | None = None,
                     ) -> tuple[list[GrantRecord], bool]:
    """CASH grants of one customer (its partition) or of the whole account (GSI1), newest first."""
    filters = ["#type = :cash"]
    values: dict[str, Any] = {":cash": "CASH"}
    names = {"#type": "grantType"}
    if customer_id is not None:
        items, more = _id_page(repo, key_condition="PK = :pk", key_name="SK",
                               prefix=keys.GRANT_SK_PREFIX, sk_of=keys.grant_sk,
                               pk={":pk": keys.customer_pk(account_id, customer_id)}, starting_after=starting_after,
                               ending_before=ending_before, limit=limit, filters=filters, values=values, names=names)
    else:
        # The account's grants are write-sharded on GSI1; an id is a position in every shard.
        items, more = sharded.merged_page(repo.client, table=repo.table,
                                          partition_keys=keys.account_grants_gsi1pks(account_id), low="cg_",
                                          high="cg_" + _HIGH, limit=limit, cursor=ending_before or starting_after,
                                          backwards=ending_before is not None, newest_first=True,
                                          filter_expression=" AND ".join(filters), names=names, values=values)
    return [mapping.item_to_grant(i) for i in items], more


def list_balance_entries(repo: DynamoRepository, account_id: str, customer_id: str, *, types: tuple[str, ...],
                         grant_ids: set[str], limit: int, starting_after: str | None = None,
                         ending_before: str | None = None) -> tuple[list[LedgerRecord], bool]:
    """Ledger entries of `types` with a non-zero amount, of the grants in `grant_ids`, newest first."""
    if not grant_ids:
        return [], False
    values: dict[str, Any] = {":zero": Decimal(0)}
    names = {"#entryType": "entryType", "#amount": "amount"}
    type_keys = []
    for i, entry_type in enumerate(types):
        values[f":t{i}"] = entry_type
        type_keys.append(f":t{i}")
    filters = [f"#entryType IN ({', '.join(type_keys)})", "#amount > :zero"]
    if len(grant_ids) == 1:
        # One grant: let DynamoDB drop the rest before they are returned.
        filters.append("#grantId = :grant")
        names["#grantId"] = "grantId"
        values[":grant"] = next(iter(grant_ids))
    items, more = _id_page(repo, key_condition="PK = :pk", key_name="SK",
                           prefix=keys.LEDGER_SK_PREFIX, sk_of=keys.ledger_sk,
                           pk={":pk": keys.customer_pk(account_id, customer_id)}, starting_after=starting_after,
                           ending_before=ending_before, limit=limit, filters=filters, values=values,
                           names=names,
                           keep=lambda item: item.get("grantId") in grant_ids)
    return [mapping.item_to_entry(i) for i in items], more
