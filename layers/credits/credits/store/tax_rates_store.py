"""DynamoDB side of the account's tax rates (`/tax-rates`).

Key design (README "Key design"): PK `ACCT#<a>#TAXRATE#<id>`, SK `TAXRATE`, with GSI1PK
`ACCT#<a>#TAXRATES` and GSI1SK the id (ids are time-ordered ULIDs: the list is in creation order)."""

from __future__ import annotations

from typing import Any

from credits.domain.clock import to_iso
from credits.domain.records import Page, TaxRateRecord
from credits.store import items as mapping
from credits.store import keys
from credits.store.dynamo import DynamoRepository, from_wire, to_wire


class DynamoTaxRateStore:
    def __init__(self, repo: DynamoRepository):
        self.repo = repo

    def put_new_tax_rate(self, rate: TaxRateRecord) -> None:
        self.repo.client.put_item(TableName=self.repo.table, Item=to_wire(mapping.tax_rate_to_item(rate)),
                                  ConditionExpression="attribute_not_exists(PK)")

    def get_tax_rate(self, account_id: str, tax_rate_id: str) -> TaxRateRecord | None:
        item = self.repo.get_item(keys.tax_rate_key(account_id, tax_rate_id))
        return mapping.item_to_tax_rate(item) if item else None

    def update_tax_rate(self, account_id: str, tax_rate_id: str, changes: dict[str, Any]) -> TaxRateRecord | None:
        attributes = {mapping.TAX_RATE_ATTRIBUTES[field]: to_iso(value) if field == "updated_at" else value
                      for field, value in changes.items()}
        names = {f"#f{i}": name for i, name in enumerate(attributes)}
        values = {f":v{i}": value for i, value in enumerate(attributes.values())}
        client = self.repo.client
        try:
            response = client.update_item(
                TableName=self.repo.table, Key=to_wire(keys.tax_rate_key(account_id, tax_rate_id)),
                UpdateExpression="SET " + ", ".join(f"#f{i} = :v{i}" for i in range(len(attributes))),
                ConditionExpression="attribute_exists(PK)", ExpressionAttributeNames=names,
                ExpressionAttributeValues=to_wire(values), ReturnValues="ALL_NEW")
        except client.exceptions.ConditionalCheckFailedException:
            return None
        return mapping.item_to_tax_rate(from_wire(response["Attributes"]))

    def list_tax_rates(self, account_id: str, *, limit: int, after: str | None, before: str | None) -> Page:
        base = {"TableName": self.repo.table, "IndexName": "GSI1", "KeyConditionExpression": "GSI1PK = :pk",
                "ExpressionAttributeValues": to_wire({":pk": keys.account_tax_rates_gsi1pk(account_id)})}
        return self.repo.page(base, ("PK", "SK", "GSI1PK", "GSI1SK"), limit, after, before, account_id,
                               mapping.item_to_tax_rate, newest_first=False)
