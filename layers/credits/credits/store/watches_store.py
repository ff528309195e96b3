"""DynamoDB adapter of the watches (balance alerts and top-up rules): items in the customer's
partition under its balance (store/keys.watch_sk), an id reference, and GSI1 listings."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from credits.domain.records import GrantNotice, GrantRecord, LedgerRecord, Page, WatchRecord
from credits.store import items as mapping
from credits.store import keys
from credits.store.client import to_wire
from credits.store.dynamo import DynamoRepository


class DynamoWatchStore:
    def __init__(self, repo: DynamoRepository):
        self.repo = repo

    def put_new(self, watch: WatchRecord) -> None:
        ref = {**keys.watch_ref_key(watch.account_id, watch.id), "entity": "WATCH_REF",
               "customerId": watch.customer_id, "watchSk": keys.watch_sk(watch.type, watch.scope, watch.id)}
        self.repo.transact([self.repo.put_op(mapping.watch_to_item(watch), "attribute_not_exists(PK)"),
                             self.repo.put_op(ref, "attribute_not_exists(PK)")])

    def get(self, account_id: str, watch_id: str, kind: str) -> WatchRecord | None:
        ref = self.repo.get_item(keys.watch_ref_key(account_id, watch_id))
        if ref is None:
            return None
        item = self.repo.get_item({"PK": keys.customer_pk(account_id, ref["customerId"]), "SK": ref["watchSk"]})
        watch = mapping.item_to_watch(item) if item else None
        return watch if watch is not None and watch.kind == kind else None

    def save(self, watch: WatchRecord, expected_version: int, extra: list[dict[str, Any]] | None = None) -> None:
        """Replace a watch conditioned on the version read (ConcurrentUpdate when it moved)."""
        self.repo.transact([self.repo.put_op(mapping.watch_to_item(watch), "version = :v", {":v": expected_version}),
                             *(extra or [])])

    def delete(self, watch: WatchRecord) -> None:
        self.repo.transact([
            {"Delete": {"TableName": self.repo.table, "Key": to_wire({
                "PK": keys.customer_pk(watch.account_id, watch.customer_id),
                "SK": keys.watch_sk(watch.type, watch.scope, watch.id)})}},
            {"Delete": {"TableName": self.repo.table, "Key": to_wire(keys.watch_ref_key(watch.account_id, watch.id))}},
        ])

    def of_balance(self, account_id: str, customer_id: str, grant_type: str, scope: str) -> list[WatchRecord]:
        kwargs = {"TableName": self.repo.table, "ConsistentRead": True,
                  "KeyConditionExpression": "PK = :pk AND begins_with(SK, :sk)",
                  "ExpressionAttributeValues": to_wire({":pk": keys.customer_pk(account_id, customer_id),
                                                        ":sk": keys.watch_prefix(grant_type, scope)})}
        return [mapping.item_to_watch(item) for item in self.repo.query_all(kwargs)]

    def list(self, account_id: str, kind: str, *, customer_id: str | None, limit: int, after: str | None,
             before: str | None) -> Page:
        values: dict[str, Any] = {":pk": keys.account_watches_gsi1pk(account_id, kind)}
        base: dict[str, Any] = {"TableName": self.repo.table, "IndexName": "GSI1", "KeyConditionExpression": "GSI1PK = :pk"}
        if customer_id:
            base["FilterExpression"] = "customerId = :c"
            values[":c"] = customer_id
        base["ExpressionAttributeValues"] = to_wire(values)
        return self.repo.page(base, ("GSI1PK", "GSI1SK", "PK", "SK"), limit, after, before, account_id,
                               mapping.item_to_watch, newest_first=True)

    def top_up(self, rule: WatchRecord, expected_version: int, grant: GrantRecord, entry: LedgerRecord | None,
               claim: str, notices: Iterable[GrantNotice] = ()) -> None:
        """One transaction: the top-up grant (create-once under `claim`, the crossing; with its
        GRANTED entry, or awaiting payment its invoice notice) and the rule moved on (its state
        and its month's count), conditioned on the rule's version."""
        self.repo.create_grant(grant, entry, request_key=claim, notices=notices, extra=[
            self.repo.put_op(mapping.watch_to_item(rule), "version = :v", {":v": expected_version})])
