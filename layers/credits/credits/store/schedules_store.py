"""DynamoDB side of recurring grants: the schedule item (explicit mapping), the listings (GSI1),
the due queue (GSI2, sparse), and the one transaction per period (grant + its lookup ref + its
GRANTED entry + the schedule advanced, conditioned on the index read)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from credits.domain.clock import to_iso
from credits.domain.records import GrantRecord, LedgerRecord, Page, ScheduleRecord
from credits.store import items as mapping
from credits.store import keys
from credits.store.dynamo import DynamoRepository, to_wire

_PK_PREFIX = "ACCT#"
_PK_MARK = "#SCHEDULE#"


def _account_and_id(pk: str) -> tuple[str, str]:
    """'ACCT#{account}#SCHEDULE#{id}' -> (account, id) (ids never contain '#')."""
    account, schedule_id = pk[len(_PK_PREFIX):].rsplit(_PK_MARK, 1)
    return account, schedule_id


# ====================================================================== store


class ScheduleStore:
    def __init__(self, repo: DynamoRepository, *, test_clock_id: str | None = None):
        self.repo = repo
        # Set: `due` reads that test clock's own queue (its advance); None: the service-wide shards.
        self.test_clock_id = test_clock_id

    @property
    def client(self):
        return self.repo.client

    @property
    def table(self) -> str:
        return self.repo.table

    def put_new(self, schedule: ScheduleRecord) -> None:
        self.client.put_item(TableName=self.table, Item=to_wire(mapping.schedule_to_item(schedule)),
                             ConditionExpression="attribute_not_exists(PK)")

    def get(self, account_id: str, schedule_id: str) -> ScheduleRecord | None:
        if "#" in schedule_id:
            return None  # never part of an id; would address another key
        item = self.repo.get_item(keys.schedule_key(account_id, schedule_id))
        return mapping.item_to_schedule(item) if item else None

    def list(self, account_id: str, *, customer_id: str | None, limit: int, after: str | None,
             before: str | None) -> Page:
        values: dict[str, Any] = {":pk": keys.account_schedules_gsi1pk(account_id)}
        base: dict[str, Any] = {"TableName": self.table, "IndexName": "GSI1", "KeyConditionExpression": "GSI1PK = :pk"}
        if customer_id is not None:
            base["FilterExpression"] = "customerId = :c"
            values[":c"] = customer_id
        base["ExpressionAttributeValues"] = to_wire(values)
        return self.repo.page(base, ("GSI1PK", "GSI1SK", "PK", "SK"), limit, after, before, account_id,
                               mapping.item_to_schedule, newest_first=True)

    def due(self, now: datetime) -> Iterator[tuple[str, str]]:
        """(account, schedule id) of every schedule whose nextGrantAt <= now: a Query per shard
        of the sparse GSI2 (never a Scan). The index is eventually consistent, so callers
        re-read each schedule before acting."""
        upper = keys.due_sk(to_iso(now), "\uffff")
        queues = ([keys.clock_queue_pk(self.test_clock_id, "SCHEDULE")] if self.test_clock_id
                  else [keys.schedule_gsi2pk(shard) for shard in range(keys.SHARDS)])
        for queue in queues:
            kwargs = {"TableName": self.table, "IndexName": "GSI2",
                      "KeyConditionExpression": "GSI2PK = :pk AND GSI2SK <= :upper",
                      "ExpressionAttributeValues": to_wire({":pk": queue, ":upper": upper})}
            for item in self.repo.query_all(kwargs):
                yield _account_and_id(item["PK"])

    # ------------------------------------------------------------------ writes
    def _advance_op(self, schedule: ScheduleRecord, expected_index: int, next_index: int,
                    next_at: datetime | None, now: datetime) -> dict[str, Any]:
        """Update of the schedule to `next_index`, only if it is still ACTIVE at `expected_index`."""
        values: dict[str, Any] = {":expected": expected_index, ":next": next_index, ":now": to_iso(now),
                                  ":active": "ACTIVE"}
        if next_at is not None:
            update = "SET nextIndex = :next, updatedAt = :now, nextGrantAt = :at, GSI2PK = :gpk, GSI2SK = :gsk"
            values.update({":at": to_iso(next_at), ":gpk": mapping.schedule_due_pk(schedule),
                           ":gsk": keys.due_sk(to_iso(next_at), schedule.id)})
        else:  # finished: out of the due queue
            update = "SET nextIndex = :next, updatedAt = :now REMOVE nextGrantAt, GSI2PK, GSI2SK"
        return {"Update": {
            "TableName": self.table,
            "Key": to_wire(keys.schedule_key(schedule.account_id, schedule.id)),
            "UpdateExpression": update,
            "ConditionExpression": "nextIndex = :expected AND #status = :active",
            "ExpressionAttributeNames": {"#status": "status"},
            "ExpressionAttributeValues": to_wire(values),
        }}

    def grant_period(self, schedule: ScheduleRecord, expected_index: int, next_index: int, next_at: datetime | None,
                     grant: GrantRecord, entry: LedgerRecord, now: datetime) -> None:
        """One period, atomically: the grant (new id only), its ref, its GRANTED entry, and the
        schedule advanced. A lost race raises ConcurrentUpdate and writes nothing."""
        self.repo.transact([
            *self.repo.grant_creation_ops(grant, entry),
            self._advance_op(schedule, expected_index, next_index, next_at, now),
        ])

    def advance(self, schedule: ScheduleRecord, expected_index: int, next_index: int, next_at: datetime | None,
                now: datetime) -> None:
        self.repo.transact([self._advance_op(schedule, expected_index, next_index, next_at, now)])

    def cancel(self, canceled: ScheduleRecord) -> None:
        """CANCELED and out of the due queue. A run that read it ACTIVE fails its own
        condition afterwards, so no period is granted after the cancel commits."""
        self.repo.transact([{"Update": {
            "TableName": self.table,
            "Key": to_wire(keys.schedule_key(canceled.account_id, canceled.id)),
            "UpdateExpression": "SET #status = :canceled, canceledAt = :now, updatedAt = :now, canceledBy = :by "
                                "REMOVE nextGrantAt, GSI2PK, GSI2SK",
            "ConditionExpression": "#status = :active",
            "ExpressionAttributeNames": {"#status": "status"},
            "ExpressionAttributeValues": to_wire({":canceled": "CANCELED", ":now": to_iso(canceled.updated_at),
                                                  ":active": "ACTIVE", ":by": canceled.canceled_by}),
        }}])

