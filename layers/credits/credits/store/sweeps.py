"""DynamoDB adapter of the expiry sweep's port (credits.services.expiry.SweepStore): the due-work queries
on the sparse indexes GSI2 (expiry) and GSI3 (expiring-soon notices), and the sweep's writes."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from typing import Any

from credits.domain.clock import to_iso
from credits.domain.records import ApplicationRecord, GrantRecord, LedgerRecord
from credits.store import items as mapping
from credits.store import keys
from credits.store.dynamo import DynamoRepository, from_wire, to_wire

# Notice items are kept a while after the expiry (audit), then DynamoDB's TTL removes them; the
# REMOVE stream record publishes nothing.
NOTICE_RETENTION = timedelta(days=90)

_QUEUES = {
    # queue: (index, partition attribute, sort attribute, partition key of a shard)
    "EXPIRY": ("GSI2", "GSI2PK", "GSI2SK", keys.expiry_gsi2pk),
    "NOTICE": ("GSI3", "GSI3PK", "GSI3SK", keys.notice_gsi3pk),
    "UNFINISHED": ("GSI2", "GSI2PK", "GSI2SK", keys.unfinished_gsi2pk),
}


def notice_item(notice: Any) -> dict[str, Any]:
    """The item of an credits.services.expiry.ExpiringNotice (entity NOTICE; its INSERT is the event)."""
    expires_iso = to_iso(notice.expires_at)
    return {
        **keys.notice_key(notice.account_id, notice.grant_id, f"EXPIRING_SOON#{expires_iso}#v{notice.grant_version}"),
        "entity": "NOTICE",
        "kind": "EXPIRING_SOON",
        "accountId": notice.account_id,
        "customerId": notice.customer_id,
        "grantId": notice.grant_id,
        "grantType": notice.grant_type,
        **({"currency": notice.currency} if notice.currency else {}),
        **({"metricId": notice.metric_id} if notice.metric_id else {}),
        "name": notice.name,
        "expiresAt": expires_iso,
        "expiryDate": notice.expiry_date,
        "currentBalance": notice.current_balance,
        "createdAt": to_iso(notice.created_at),
        "expiration": int((notice.expires_at + NOTICE_RETENTION).timestamp()),
        **({"actor": notice.actor} if notice.actor else {}),
        **({"testClockId": notice.test_clock_id} if notice.test_clock_id else {}),
    }


def depletion_notice_item(notice: Any) -> dict[str, Any]:
    """The item of a credits.services.expiry.DepletionNotice (entity NOTICE; its INSERT is the event)."""
    return {
        "PK": keys.customer_pk(notice.account_id, notice.customer_id),
        "SK": f"NOTICE#BALANCE_DEPLETED#{notice.entry_id}",
        "entity": "NOTICE",
        "kind": "BALANCE_DEPLETED",
        "accountId": notice.account_id,
        "customerId": notice.customer_id,
        "grantType": notice.grant_type,
        **({"currency": notice.currency} if notice.currency else {}),
        **({"metricId": notice.metric_id} if notice.metric_id else {}),
        "createdAt": to_iso(notice.created_at),
        "expiration": int((notice.created_at + NOTICE_RETENTION).timestamp()),
        **({"actor": notice.actor} if notice.actor else {}),
        **({"testClockId": notice.test_clock_id} if notice.test_clock_id else {}),
    }


class DynamoSweepStore:
    """The SweepStore port (services/ports.py) over the table's sparse GSI2 / GSI3 queues."""

    shards = keys.SHARDS

    def __init__(self, repo: DynamoRepository, *, test_clock_id: str | None = None):
        self.repo = repo
        # Set: the sweep reads that test clock's own EXPIRY / NOTICE queues (one shard each): its
        # advance. None: the service-wide shards, which hold no test clock's grants.
        self.test_clock_id = test_clock_id
        if test_clock_id:
            self.shards = 1

    def due_keys(self, queue: str, shard: int, until: datetime, page_size: int = 100) -> Iterator[tuple[str, str]]:
        index, pk_attr, sk_attr, shard_pk = _QUEUES[queue]
        if self.test_clock_id and queue != "UNFINISHED":
            shard_pk = lambda _shard: keys.clock_queue_pk(self.test_clock_id, queue)
        kwargs: dict[str, Any] = {
            "TableName": self.repo.table,
            "IndexName": index,
            # Sort keys are "<instant>#<grantId>": everything due by `until`, whatever the id.
            "KeyConditionExpression": "#pk = :pk AND #sk <= :until",
            "ExpressionAttributeNames": {"#pk": pk_attr, "#sk": sk_attr},
            "ExpressionAttributeValues": to_wire({":pk": shard_pk(shard), ":until": keys.due_sk(to_iso(until), "\uffff")}),
            "Limit": page_size,
        }
        while True:
            response = self.repo.client.query(**kwargs)
            for item in response.get("Items", []):
                key = from_wire(item)
                yield key["PK"], key["SK"]
            if "LastEvaluatedKey" not in response:
                return
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def read_application(self, key: tuple[str, str]) -> ApplicationRecord | None:
        """An application found on the UNFINISHED queue (None when gone)."""
        item = self.repo.get_item({"PK": key[0], "SK": key[1]})
        return mapping.item_to_application(item) if item else None

    def read_grant(self, key: tuple[str, str]) -> GrantRecord | None:
        item = self.repo.get_item({"PK": key[0], "SK": key[1]})
        return mapping.item_to_grant(item) if item and item.get("entity") == "GRANT" else None

    def read_grants(self, keys_: list[tuple[str, str]]) -> dict[tuple[str, str], GrantRecord | None]:
        """Many grants in one BatchGetItem per 100 keys, strongly consistent (missing -> None)."""
        found: dict[tuple[str, str], GrantRecord | None] = dict.fromkeys(keys_)
        unique = list(dict.fromkeys(keys_))
        for item in self.repo.batch_get([{"PK": pk, "SK": sk} for pk, sk in unique]):
            if item.get("entity") == "GRANT":
                found[(item["PK"], item["SK"])] = mapping.item_to_grant(item)
        return found

    def save_expired_batch(self, batch: list[tuple[GrantRecord, int, Iterable[LedgerRecord]]]) -> None:
        """Every grant of the batch with its EXPIRED entry, in one transaction (each grant
        conditioned on its version): all or nothing, ConcurrentUpdate if any condition fails."""
        operations = []
        for grant, expected_version, entries in batch:
            operations.append(self.repo.grant_put_op(grant, expected_version))
            operations += [self.repo.put_op(mapping.entry_to_item(e), "attribute_not_exists(PK)")
                           for e in entries]
        self.repo.transact(operations)

    def save_noticed_batch(self, batch: list[tuple[GrantRecord, int, Any]]) -> None:
        """Every grant of the batch marked as noticed, with its notice item, in one transaction."""
        operations = []
        for grant, expected_version, notice in batch:
            operations.append(self.repo.grant_put_op(grant, expected_version))
            operations.append(self.repo.put_op(notice_item(notice), "attribute_not_exists(PK)"))
        self.repo.transact(operations)

    def burn_candidates(self, account_id: str, customer_id: str, grant_type: str, scope: str) -> Iterator[GrantRecord]:
        return self.repo.burn_candidates(account_id, customer_id, grant_type, scope)

    def save_depletion_notice(self, notice: Any) -> None:
        self.repo.transact([self.repo.put_op(depletion_notice_item(notice), "attribute_not_exists(PK)")])

    def save_expired(self, grant: GrantRecord, expected_version: int, entries: Iterable[LedgerRecord]) -> None:
        self.repo.save_grant(grant, expected_version, entries)

    def save_rolled_over(self, grant: GrantRecord, expected_version: int, entries: Iterable[LedgerRecord],
                         rollover: GrantRecord, granted: LedgerRecord) -> None:
        self.repo.save_grant(grant, expected_version, entries, extra=self.repo.grant_creation_ops(rollover, granted))

    def save_noticed(self, grant: GrantRecord, expected_version: int, notice: Any) -> None:
        # The version condition already makes this once per grant; attribute_not_exists guards the
        # notice itself, so even a bug elsewhere cannot publish it twice.
        put = self.repo.put_op(notice_item(notice), "attribute_not_exists(PK)")
        self.repo.save_grant(grant, expected_version, (), extra=[put])
