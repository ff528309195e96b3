"""DynamoDB side of the account's customer directory (GET /customers). The repository writes it
(DynamoRepository._note_activity, after each committed ledger write); this adapter reads it.

Key design (README "Key design"): one item per customer that ever had a ledger entry,
PK `ACCT#<a>#CUSTOMERS`, SK `CUST#<customerId>` (base table: `customerIdPrefix` is a
begins_with Query on SK, in id order), with GSI1PK `ACCT#<a>#CUSTOMERS` and GSI1SK
`<id of its latest ledger entry>#<customerId>` (GSI1, newest activity first: a Query, never a
Scan; ULIDs order writes to the millisecond, where lastActivityAt's seconds would tie)."""

from __future__ import annotations

from typing import Any

from credits.domain.records import Page
from credits.store import items as mapping
from credits.store import keys
from credits.store.dynamo import DynamoRepository, to_wire


class DynamoCustomerDirectory:
    def __init__(self, repo: DynamoRepository):
        self.repo = repo

    def list_customers(self, account_id: str, *, prefix: str | None, limit: int, after: str | None,
                       before: str | None) -> Page:
        base: dict[str, Any]
        if prefix:
            base = {"TableName": self.repo.table, "ConsistentRead": True,
                    "KeyConditionExpression": "PK = :pk AND begins_with(SK, :sk)",
                    "ExpressionAttributeValues": to_wire({":pk": keys.customers_pk(account_id),
                                                          ":sk": f"{keys.CUSTOMER_SK_PREFIX}{prefix}"})}
            return self.repo._page(base, ("PK", "SK"), limit, after, before, account_id,
                                   mapping.item_to_customer_entry, newest_first=False)
        base = {"TableName": self.repo.table, "IndexName": "GSI1", "KeyConditionExpression": "GSI1PK = :pk",
                "ExpressionAttributeValues": to_wire({":pk": keys.customers_pk(account_id)})}
        return self.repo._page(base, ("PK", "SK", "GSI1PK", "GSI1SK"), limit, after, before, account_id,
                               mapping.item_to_customer_entry, newest_first=True)
