"""DynamoDB side of the audit trail (`GET /audit-events`).

Each audit event is an item written by the publisher from the table stream (so every write path
is audited without code of its own, and an event exists only for a committed write):
PK `ACCT#<a>#AUDIT#<resourceId>`, SK `<occurredAt>#<sequence>` (one resource's history: a
strongly consistent Query), with GSI1PK `ACCT#<a>#AUDIT#<shard>` and GSI1SK the SK (the
account's trail, newest first: the shards merged). Written once (a redelivered stream record finds
it), in one transaction with the resource's count and a shard of the account's (totalResultSize)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from credits.domain.clock import to_iso
from credits.domain.records import AuditRecord, Page
from credits.store import items as mapping
from credits.store import keys
from credits.store.dynamo import DynamoRepository, to_wire


class DynamoAuditStore:
    def __init__(self, repo: DynamoRepository):
        self.repo = repo

    def record_change(self, old: dict[str, Any] | None, new: dict[str, Any] | None) -> bool:
        """Store the audit event of a committed write (a stream record's images), if it is one
        (store/items.audit_of_change); False when it is none or was stored already."""
        record = mapping.audit_of_change(old, new)
        return record is not None and self.put(record)

    def put(self, record: AuditRecord) -> bool:
        """Store the event once; False when a redelivery finds it stored."""
        count = {"UpdateExpression": "ADD #total :one", "ExpressionAttributeNames": {"#total": "total"},
                 "ExpressionAttributeValues": to_wire({":one": 1})}
        item = mapping.audit_to_item(record)
        operations: list[dict[str, Any]] = [
            self.repo.put_op(item, "attribute_not_exists(PK)"),
            {"Update": {"TableName": self.repo.table,
                        "Key": to_wire(keys.account_audit_count_key(record.account_id, item["SK"])), **count}},
            {"Update": {"TableName": self.repo.table,
                        "Key": to_wire(keys.audit_count_key(record.account_id, record.resource_id)), **count}},
        ]
        client = self.repo.client
        try:
            client.transact_write_items(TransactItems=operations)
        except client.exceptions.TransactionCanceledException as exc:
            reasons = [r.get("Code") for r in exc.response.get("CancellationReasons", [])]
            if reasons and reasons[0] == "ConditionalCheckFailed":
                return False
            raise
        return True

    def list(self, account_id: str, *, resource_id: str | None, actor_id: str | None, actor_type: str | None,
             start: datetime | None, end: datetime | None, limit: int, after: str | None, before: str | None) -> Page:
        """Newest first. The resource's partition (one Query per page), or the account's trail
        (GSI1, its shards merged: store/sharded.py); the time window is the key range; an actor
        filter is a FilterExpression (it may read on for a full page)."""
        low = keys.audit_sk(to_iso(start), "") if start else "0"
        high = keys.audit_sk(to_iso(end), "") if end else "~"
        values: dict[str, Any] = {}
        filters = []
        if actor_id is not None:
            filters.append("actorId = :actorId")
            values[":actorId"] = actor_id
        if actor_type is not None:
            filters.append("actorType = :actorType")
            values[":actorType"] = actor_type
        counted = None if filters or start or end else (lambda: self._counted(account_id, resource_id))
        if resource_id is None:
            return self.repo.sharded_page("audit", keys.account_audit_gsi1pks(account_id), low=low, high=high,
                                          limit=limit, after=after, before=before, account_id=account_id,
                                          mapper=mapping.item_to_audit, newest_first=True, filters=filters,
                                          values=values, total=counted)
        values.update({":pk": keys.resource_audit_pk(account_id, resource_id), ":low": low, ":high": high})
        base: dict[str, Any] = {"TableName": self.repo.table, "ConsistentRead": True,
                                "KeyConditionExpression": "PK = :pk AND SK BETWEEN :low AND :high"}
        if filters:
            base["FilterExpression"] = " AND ".join(filters)
        base["ExpressionAttributeValues"] = to_wire(values)
        return self.repo.page(base, ("PK", "SK"), limit, after, before, account_id, mapping.item_to_audit,
                               newest_first=True, total=counted)

    def _counted(self, account_id: str, resource_id: str | None) -> int:
        if resource_id is not None:
            item = self.repo.get_item(keys.audit_count_key(account_id, resource_id))
            return int(item.get("total", 0)) if item else 0
        return sum(int(item.get("total", 0)) for item in self.repo.batch_get(keys.account_audit_count_keys(account_id)))
