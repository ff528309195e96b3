"""Upgrading a table written by an earlier version of the service (`make migrate`): an operator's
tool, not shipped in any Lambda (no function has, or needs, dynamodb:Scan).

- Account-wide GSI1 keys written before they were sharded (`ACCT#a#GRANTS`, `#LEDGER`, `#AUDIT`,
  `#CUSTOMERS`) are moved to their shard (store/keys.py), each with an UpdateItem conditioned on
  the key it had, so a concurrent writer is never overwritten.
- A grant written before the balance aggregates (no `aggregated` flag) is written once through
  the repository, which adds its contribution to its aggregate in the same transaction,
  conditioned on the version read (a grant changed meanwhile is read again; one already counted
  by a write of its own is left alone).
- The account's audit count, one item before, moves into shard 0 of its sharded count.

Every step is conditioned on the old shape, so the upgrade can run while the service serves,
can be stopped and run again, and a second run changes nothing.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Iterator
from typing import Any

from credits.domain.errors import ConcurrentUpdate
from credits.store import items as mapping
from credits.store import keys
from credits.store.client import from_wire, to_wire
from credits.store.dynamo import DynamoRepository

_SHARDED_KEYS = {
    "GRANT": lambda item: keys.account_grants_gsi1pk(item["accountId"], item["id"]),
    "LEDGER": lambda item: keys.account_ledger_gsi1pk(item["accountId"], item["id"]),
    "AUDIT": lambda item: keys.account_audit_gsi1pk(item["accountId"], item["SK"]),
    "CUSTOMER": lambda item: keys.customers_gsi1pk(item["accountId"], item["customerId"]),
}
_OLD_ACCOUNT_AUDIT_COUNT_SK = "#ACCOUNT"


def upgrade(repo: DynamoRepository) -> Counter[str]:
    """Bring every item of the table to the current shape; returns what it changed, by kind."""
    changed: Counter[str] = Counter()
    for item in _scan(repo):
        entity = item.get("entity")
        if entity == "GRANT" and not item.get("aggregated"):
            changed["grants aggregated"] += _aggregate_grant(repo, item)
        elif entity in _SHARDED_KEYS and item.get("GSI1PK") and item["GSI1PK"] != _SHARDED_KEYS[entity](item):
            changed[f"{entity.lower()} index keys sharded"] += _rekey(repo, item, _SHARDED_KEYS[entity](item))
        elif item["PK"].endswith("#AUDITCOUNT") and item["SK"] == _OLD_ACCOUNT_AUDIT_COUNT_SK:
            changed["audit counts sharded"] += _move_audit_count(repo, item)
    return changed


def _scan(repo: DynamoRepository) -> Iterator[dict[str, Any]]:
    for page in repo.client.get_paginator("scan").paginate(TableName=repo.table):
        yield from map(from_wire, page.get("Items", []))


def _aggregate_grant(repo: DynamoRepository, item: dict[str, Any]) -> int:
    grant = mapping.item_to_grant(item)  # as stored without the flag, it contributes nothing yet
    for _ in range(10):
        try:
            # Unchanged but for its version: the write adds the grant's whole contribution to its
            # aggregate and writes it in the current shape.
            repo.save_grant(grant.evolve(version=grant.version + 1), grant.version)
            return 1
        except ConcurrentUpdate:
            fresh = repo.get_customer_grant(grant.account_id, grant.customer_id, grant.id)
            if fresh is None or fresh.stored:
                return 0  # deleted, or counted by a write of its own meanwhile
            grant = fresh
    raise ConcurrentUpdate(f"grant {grant.id} kept changing; run the upgrade again")


def _rekey(repo: DynamoRepository, item: dict[str, Any], new_key: str) -> int:
    client = repo.client
    try:
        client.update_item(TableName=repo.table, Key=to_wire({"PK": item["PK"], "SK": item["SK"]}),
                           UpdateExpression="SET GSI1PK = :new", ConditionExpression="GSI1PK = :old",
                           ExpressionAttributeValues=to_wire({":new": new_key, ":old": item["GSI1PK"]}))
        return 1
    except client.exceptions.ConditionalCheckFailedException:
        return 0  # rewritten meanwhile, in the current shape


def _move_audit_count(repo: DynamoRepository, item: dict[str, Any]) -> int:
    client = repo.client
    total = item.get("total", 0)
    account_id = item["PK"][len("ACCT#"):-len("#AUDITCOUNT")]
    shard = keys.account_audit_count_keys(account_id)[0]
    try:
        client.transact_write_items(TransactItems=[
            {"Delete": {"TableName": repo.table, "Key": to_wire({"PK": item["PK"], "SK": item["SK"]}),
                        "ConditionExpression": "#total = :total", "ExpressionAttributeNames": {"#total": "total"},
                        "ExpressionAttributeValues": to_wire({":total": total})}},
            {"Update": {"TableName": repo.table, "Key": to_wire(shard), "UpdateExpression": "ADD #total :total",
                        "ExpressionAttributeNames": {"#total": "total"},
                        "ExpressionAttributeValues": to_wire({":total": total})}},
        ])
        return 1
    except client.exceptions.TransactionCanceledException:
        return 0  # the old count is gone (moved by another run)


def main() -> int:
    from credits.container import repository

    changed = upgrade(repository())
    for kind, count in sorted(changed.items()):
        print(f"{kind}: {count}")
    print("the table is in the current shape" if not changed else "upgraded")
    return 0


if __name__ == "__main__":
    sys.exit(main())
