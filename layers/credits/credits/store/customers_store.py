"""DynamoDB side of the account's customer directory (GET /customers): written from the table
stream (PublisherFunction calls note_activity for each committed ledger entry, off the request
path), read by GET /customers.

Key design (README "Key design"): one item per customer that ever had a ledger entry,
PK `ACCT#<a>#CUSTOMERS`, SK `CUST#<customerId>` (base table: `customerIdPrefix` is a
begins_with Query on SK, in id order), with GSI1PK `ACCT#<a>#CUSTOMERS#<shard of the customer>` and GSI1SK
`<id of its latest ledger entry>#<customerId>` (GSI1, newest activity first: the shards merged
by GSI1SK, never a Scan; ULIDs order writes to the millisecond, where lastActivityAt's seconds would tie)."""

from __future__ import annotations

from credits.domain.clock import to_iso
from credits.domain.customer_rules import latest_activity
from credits.domain.records import LedgerRecord, Page
from credits.store import items as mapping
from credits.store import keys
from credits.store.dynamo import DynamoRepository, to_wire


class DynamoCustomerDirectory:
    def __init__(self, repo: DynamoRepository):
        self.repo = repo

    def note_activity(self, entries: list[LedgerRecord]) -> None:
        """Move each customer these committed ledger entries are of to the top of the directory.
        Only ever forwards (a late or redelivered record never moves a customer back), so the
        stream may deliver in any order and more than once."""
        client = self.repo.client
        for (account_id, customer_id), entry in latest_activity(entries).items():
            at = to_iso(entry.created_at)
            try:
                client.update_item(
                    TableName=self.repo.table, Key=to_wire(keys.customer_dir_key(account_id, customer_id)),
                    UpdateExpression="SET entity = :e, accountId = :a, customerId = :c, lastActivityAt = :t, "
                                     "lastEntryId = :id, GSI1PK = :g, GSI1SK = :s, "
                                     "firstActivityAt = if_not_exists(firstActivityAt, :t)",
                    ConditionExpression="attribute_not_exists(lastEntryId) OR lastEntryId < :id",
                    ExpressionAttributeValues=to_wire({
                        ":e": "CUSTOMER", ":a": account_id, ":c": customer_id, ":t": at, ":id": entry.id,
                        ":g": keys.customers_gsi1pk(account_id, customer_id), ":s": keys.customer_activity_sk(entry.id, customer_id)}),
                )
            except client.exceptions.ConditionalCheckFailedException:
                pass

    def list_customers(self, account_id: str, *, prefix: str | None, limit: int, after: str | None,
                       before: str | None) -> Page:
        if prefix:
            # Most recent activity first, as without the filter: the prefix is a key range of the
            # base table, so its matches are read (only them) and ordered by their GSI1SK.
            base = {"TableName": self.repo.table, "ConsistentRead": True,
                    "KeyConditionExpression": "PK = :pk AND begins_with(SK, :sk)",
                    "ExpressionAttributeValues": to_wire({":pk": keys.customers_pk(account_id),
                                                          ":sk": f"{keys.CUSTOMER_SK_PREFIX}{prefix}"})}
            return self.repo.sorted_page(f"customers|{prefix}", list(self.repo.query_all(base)), limit=limit,
                                         after=after, before=before, account_id=account_id,
                                         mapper=mapping.item_to_customer_entry)
        # GSI1SK starts with the latest entry's id (`cbtxn_…`).
        return self.repo.sharded_page("customers", keys.customers_gsi1pks(account_id), low="cbtxn_",
                                      high="cbtxn_\uffff", limit=limit, after=after, before=before,
                                      account_id=account_id, mapper=mapping.item_to_customer_entry, newest_first=True)
