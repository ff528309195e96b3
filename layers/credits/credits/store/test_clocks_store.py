"""DynamoDB side of test clocks (`/test-clocks`, not in live mode).

Key design (README "Key design"): the clock item PK `ACCT#<a>#CLOCK#<id>` SK `CLOCK` (GSI1PK
`ACCT#<a>#CLOCKS`: the list; GSI2PK `CLOCKWORK#0` while ADVANCING or DELETING); each of its
customers an item `CUST#<customerId>` in the clock's partition, and the membership
`customer -> clock` an item SK `CLOCK` in the customer's own partition. The clock's due work
waits in its own queues (`CLOCK#<id>#EXPIRY|NOTICE|SCHEDULE`, store/keys.clock_queue_pk), which
the service-wide sweep never reads."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from credits.domain.clock import from_iso, to_iso
from credits.domain.records import Page, TestClockRecord
from credits.store import items as mapping
from credits.store import keys
from credits.store.dynamo import DynamoRepository, from_wire, to_wire

# Items of a customer read per round of a clock's deletion.
DELETE_BATCH = 25


class DynamoTestClockStore:
    """The TestClockStore port (services/ports.py)."""

    def __init__(self, repo: DynamoRepository):
        self.repo = repo

    @property
    def table(self) -> str:
        return self.repo.table

    # ------------------------------------------------------------------ the clock item
    def put_new(self, clock: TestClockRecord) -> None:
        self.repo.transact([self.repo.put_op(mapping.test_clock_to_item(clock), "attribute_not_exists(PK)")])

    def get(self, account_id: str, clock_id: str) -> TestClockRecord | None:
        if "#" in clock_id:
            return None
        item = self.repo.get_item(keys.test_clock_key(account_id, clock_id))
        return mapping.item_to_test_clock(item) if item else None

    def save(self, clock: TestClockRecord, expected_version: int) -> None:
        """Replace the clock conditioned on the version read (ConcurrentUpdate when it moved)."""
        self.repo.transact([self.repo.put_op(mapping.test_clock_to_item(clock), "version = :v",
                                            {":v": expected_version})])

    def list(self, account_id: str, *, limit: int, after: str | None, before: str | None) -> Page:
        base = {"TableName": self.table, "IndexName": "GSI1", "KeyConditionExpression": "GSI1PK = :pk",
                "ExpressionAttributeValues": to_wire({":pk": keys.account_test_clocks_gsi1pk(account_id)})}
        return self.repo.page(base, ("PK", "SK", "GSI1PK", "GSI1SK"), limit, after, before, account_id,
                               mapping.item_to_test_clock, newest_first=True)

    def at_work(self, until: datetime) -> Iterator[tuple[str, str]]:
        """(account, clock id) of the clocks ADVANCING or DELETING whose worker's lease ended by `until`."""
        kwargs = {"TableName": self.table, "IndexName": "GSI2",
                  "KeyConditionExpression": "GSI2PK = :pk AND GSI2SK <= :until",
                  "ExpressionAttributeValues": to_wire({":pk": keys.clocks_at_work_gsi2pk(),
                                                        ":until": keys.due_sk(to_iso(until), "\uffff")})}
        for item in self.repo.query_all(kwargs):
            account_id, clock_id = item["GSI2SK"].split("#", 1)[1].rsplit("#", 1)
            yield account_id, clock_id

    # ------------------------------------------------------------------ customers
    def membership(self, account_id: str, customer_id: str) -> str | None:
        item = self.repo.get_item(keys.clock_member_key(account_id, customer_id))
        return item["testClockId"] if item else None

    def customer_has_anything(self, account_id: str, customer_id: str) -> bool:
        """Anything of the customer stored yet: an item in its partition (grants, ledger,
        notices, a clock membership) or a schedule."""
        response = self.repo.client.query(
            TableName=self.table, ConsistentRead=True, Limit=1, KeyConditionExpression="PK = :pk",
            ExpressionAttributeValues=to_wire({":pk": keys.customer_pk(account_id, customer_id)}))
        if response.get("Items"):
            return True
        schedules = {"TableName": self.table, "IndexName": "GSI1", "KeyConditionExpression": "GSI1PK = :pk",
                     "FilterExpression": "customerId = :c", "ProjectionExpression": "PK",
                     "ExpressionAttributeValues": to_wire({":pk": keys.account_schedules_gsi1pk(account_id),
                                                           ":c": customer_id})}
        return any(True for _ in self.repo.query_all(schedules))

    def attach(self, clock: TestClockRecord, customer_id: str) -> None:
        """The membership and the clock's customer item, while the clock is unchanged (READY at
        the version read) and the customer on no clock yet: ConcurrentUpdate otherwise."""
        member = {**keys.clock_member_key(clock.account_id, customer_id), "entity": "CLOCK_MEMBER",
                  "accountId": clock.account_id, "customerId": customer_id, "testClockId": clock.id}
        listed = {**keys.clock_customer_key(clock.account_id, clock.id, customer_id), "entity": "CLOCK_CUSTOMER",
                  "accountId": clock.account_id, "customerId": customer_id, "testClockId": clock.id}
        self.repo.transact([
            {"ConditionCheck": {"TableName": self.table, "Key": to_wire(keys.test_clock_key(clock.account_id, clock.id)),
                                "ConditionExpression": "version = :v",
                                "ExpressionAttributeValues": to_wire({":v": clock.version})}},
            self.repo.put_op(member, "attribute_not_exists(PK)"),
            self.repo.put_op(listed, "attribute_not_exists(PK)"),
        ])

    def customers(self, account_id: str, clock_id: str, *, limit: int, after: str | None,
                  before: str | None) -> Page:
        """A Page of the clock's customer ids, in id order."""
        base = {"TableName": self.table, "ConsistentRead": True,
                "KeyConditionExpression": "PK = :pk AND begins_with(SK, :sk)",
                "ExpressionAttributeValues": to_wire({":pk": keys.test_clock_key(account_id, clock_id)["PK"],
                                                      ":sk": keys.CUSTOMER_SK_PREFIX})}
        return self.repo.page(base, ("PK", "SK"), limit, after, before, account_id,
                               lambda item: item["customerId"], newest_first=False)

    def all_customers(self, account_id: str, clock_id: str) -> list[str]:
        kwargs = {"TableName": self.table, "ConsistentRead": True,
                  "KeyConditionExpression": "PK = :pk AND begins_with(SK, :sk)",
                  "ExpressionAttributeValues": to_wire({":pk": keys.test_clock_key(account_id, clock_id)["PK"],
                                                        ":sk": keys.CUSTOMER_SK_PREFIX})}
        return [item["customerId"] for item in self.repo.query_all(kwargs)]

    # ------------------------------------------------------------------ the advance
    def next_due(self, clock_id: str) -> datetime | None:
        """The earliest instant any of the clock's queues has work at (expiry, expiring-soon
        notice, schedule period), or None: the first item of each queue."""
        firsts = []
        for index, pk_attr, queue in (("GSI2", "GSI2PK", "EXPIRY"), ("GSI3", "GSI3PK", "NOTICE"),
                                      ("GSI2", "GSI2PK", "SCHEDULE")):
            response = self.repo.client.query(
                TableName=self.table, IndexName=index, Limit=1, KeyConditionExpression="#pk = :pk",
                ExpressionAttributeNames={"#pk": pk_attr},
                ExpressionAttributeValues=to_wire({":pk": keys.clock_queue_pk(clock_id, queue)}))
            for item in response.get("Items", []):
                sort_key = from_wire(item)[pk_attr.replace("PK", "SK")]
                firsts.append(from_iso(sort_key.split("#", 1)[0]))
        return min(firsts) if firsts else None  # type: ignore[type-var]

    # ------------------------------------------------------------------ the deletion
    def delete_some(self, account_id: str, clock_id: str, customer_id: str) -> int:
        """Remove up to about DELETE_BATCH items of one of the clock's customers; 0 when nothing
        is left of it (then its membership and its item in the clock are gone too). Grants go
        one transaction each (the grant, its id reference and notices, the account's grant
        counter), so a crash leaves every count true; the rest in transactions of Delete items."""
        pk = keys.customer_pk(account_id, customer_id)
        response = self.repo.client.query(
            TableName=self.table, ConsistentRead=True, Limit=DELETE_BATCH, KeyConditionExpression="PK = :pk",
            ExpressionAttributeValues=to_wire({":pk": pk}))
        found = [from_wire(item) for item in response.get("Items", [])]
        schedules = self._customer_schedules(account_id, customer_id)
        if not found and not schedules:
            self.repo.transact([
                {"Delete": {"TableName": self.table, "Key": to_wire(keys.clock_customer_key(account_id, clock_id, customer_id))}},
                {"Delete": {"TableName": self.table, "Key": to_wire(keys.customer_dir_key(account_id, customer_id))}},
            ])
            return 0
        plain: list[dict[str, str]] = [{"PK": s["PK"], "SK": s["SK"]} for s in schedules]
        for item in found:
            if item.get("entity") == "GRANT":
                grant = mapping.item_to_grant(item)
                self.repo.transact([
                    {"Delete": {"TableName": self.table, "Key": to_wire({"PK": pk, "SK": item["SK"]})}},
                    {"Delete": {"TableName": self.table, "Key": to_wire(keys.grant_ref_key(account_id, grant.id))}},
                    *self.repo.count_ops(grant, -1),
                ])
                plain += self._grant_notices(account_id, grant.id)
            elif item.get("SK") == keys.CLOCK_MEMBER_SK:
                continue  # the membership goes last: until then the customer still reads the clock's time
            else:
                plain.append({"PK": item["PK"], "SK": item["SK"]})
                plain += self._items_outside_the_partition(account_id, item)
        if len(found) == 1 and found[0].get("SK") == keys.CLOCK_MEMBER_SK and not schedules:
            plain.append(keys.clock_member_key(account_id, customer_id))
        self._batch_delete(plain)
        return len(plain) or 1

    @staticmethod
    def _items_outside_the_partition(account_id: str, item: dict[str, Any]) -> list[dict[str, str]]:
        """What an item of the customer's partition names in partitions of their own: an entry's
        application (by invoice) and consumption (by eventId), a watch's id reference. A
        consumption that drew on no grant has no entry naming it, and is left."""
        if item.get("entity") == "WATCH":
            return [keys.watch_ref_key(account_id, item["id"])]
        if item.get("entity") != "LEDGER":
            return []
        named = [keys.application_key(account_id, item["invoiceId"])] if item.get("invoiceId") else []
        event_id = (item.get("context") or {}).get("eventId")
        if item.get("entryType") == "CONSUMED" and event_id:
            named.append(keys.consumption_key(account_id, event_id))
        return named

    def _customer_schedules(self, account_id: str, customer_id: str) -> list[dict[str, Any]]:
        kwargs = {"TableName": self.table, "IndexName": "GSI1", "KeyConditionExpression": "GSI1PK = :pk",
                  "FilterExpression": "customerId = :c", "ProjectionExpression": "PK, SK",
                  "ExpressionAttributeValues": to_wire({":pk": keys.account_schedules_gsi1pk(account_id),
                                                        ":c": customer_id})}
        return list(self.repo.query_all(kwargs))[:DELETE_BATCH]

    def _grant_notices(self, account_id: str, grant_id: str) -> list[dict[str, str]]:
        ref_pk = keys.grant_ref_key(account_id, grant_id)["PK"]
        kwargs = {"TableName": self.table, "ConsistentRead": True, "ProjectionExpression": "PK, SK",
                  "KeyConditionExpression": "PK = :pk", "ExpressionAttributeValues": to_wire({":pk": ref_pk})}
        return [{"PK": i["PK"], "SK": i["SK"]} for i in self.repo.query_all(kwargs)]

    def _batch_delete(self, item_keys: list[dict[str, str]]) -> None:
        """Transactions of Delete items (no BatchWriteItem: no function may batch-write the table)."""
        unique = list({(k["PK"], k["SK"]): k for k in item_keys}.values())
        for start in range(0, len(unique), 100):
            self.repo.transact([{"Delete": {"TableName": self.table, "Key": to_wire(k)}}
                                 for k in unique[start:start + 100]])

    def delete_clock(self, clock: TestClockRecord) -> None:
        self.repo.transact([{"Delete": {
            "TableName": self.table, "Key": to_wire(keys.test_clock_key(clock.account_id, clock.id)),
            "ConditionExpression": "version = :v", "ExpressionAttributeValues": to_wire({":v": clock.version})}}])
