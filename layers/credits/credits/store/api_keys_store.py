"""DynamoDB side of the account's API keys (`/api-keys`, the api-key tool, the authorizer).

Key design (README "Key design"): the record lives under the key's hash, PK `APIKEY#<sha256>`,
SK `APIKEY` (the authorizer's one GetItem), with GSI1PK `ACCT#<a>#APIKEYS` and GSI1SK the key id
(a ULID: the list is in creation order); a reference `ACCT#<a>#APIKEY#<id>` / `REF` names the hash
for reads by id; `ACCT#<a>#APIKEYS` / `ADMINS` counts the unrevoked admin keys, and every admin
key's create and revoke moves it in the same transaction, a revoke conditioned on the count
staying at least 1 (two revokes at once cannot both take the last two)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from credits.domain.clock import to_iso
from credits.domain.errors import ConcurrentUpdate
from credits.domain.records import ApiKeyRecord, Page
from credits.store import items as mapping
from credits.store import keys
from credits.store.client import Table, to_wire

if TYPE_CHECKING:  # the authorizer's store is over a bare Table: it never imports the repository module
    from credits.store.dynamo import DynamoRepository


class DynamoApiKeyStore:
    """Over the repository; or, for the authorizer (by_hash and touch only), over a bare Table."""

    def __init__(self, repo: DynamoRepository | Table):
        self.repo = repo

    @property
    def client(self):
        return self.repo.client

    def _admins_op(self, account_id: str, delta: int) -> dict[str, Any]:
        update: dict[str, Any] = {"TableName": self.repo.table, "Key": to_wire(keys.api_key_admins_key(account_id)),
                                  "UpdateExpression": "ADD admins :d",
                                  "ExpressionAttributeValues": to_wire({":d": delta})}
        if delta < 0:
            update["ConditionExpression"] = "admins > :one"
            update["ExpressionAttributeValues"] = to_wire({":d": delta, ":one": 1})
        return {"Update": update}

    def put_new(self, key: ApiKeyRecord) -> bool:
        """Store a new key (its record, its id reference, the admin count); False when a record of
        this hash exists already (a key is provisioned once; a revoked one stays revoked). A record
        of the tool's first version (no id yet) is taken over."""
        ref = {**keys.api_key_ref_key(key.account_id, key.id), "entity": "APIKEY_REF", "keyHash": key.key_hash}
        operations = [self.repo.put_op(mapping.api_key_to_item(key), "attribute_not_exists(keyId)"),
                      self.repo.put_op(ref, "attribute_not_exists(PK)")]
        if key.scope == "admin":
            operations.append(self._admins_op(key.account_id, +1))
        return not self.transact(operations)

    def by_hash(self, key_hash: str) -> ApiKeyRecord | None:
        item = self.repo.get_item(keys.api_key_key(key_hash))
        return mapping.item_to_api_key(item) if item else None

    def get(self, account_id: str, key_id: str) -> ApiKeyRecord | None:
        if "#" in key_id:
            return None  # never part of an id; would address another key
        ref = self.repo.get_item(keys.api_key_ref_key(account_id, key_id))
        if ref is None:
            return None
        record = self.by_hash(ref["keyHash"])
        return record if record is not None and record.account_id == account_id else None

    def list(self, account_id: str, *, limit: int, after: str | None, before: str | None) -> Page:
        base = {"TableName": self.repo.table, "IndexName": "GSI1", "KeyConditionExpression": "GSI1PK = :pk",
                "ExpressionAttributeValues": to_wire({":pk": keys.account_api_keys_gsi1pk(account_id)})}
        return self.repo.page(base, ("PK", "SK", "GSI1PK", "GSI1SK"), limit, after, before, account_id,
                               mapping.item_to_api_key, newest_first=False)

    def transact(self, operations: list[dict[str, Any]]) -> list[bool]:
        """One transaction: [] when it committed, else which operations' conditions failed.
        A conflict with another transaction raises ConcurrentUpdate (re-read and retry)."""
        client = self.client
        try:
            client.transact_write_items(TransactItems=operations)
        except client.exceptions.TransactionCanceledException as exc:
            reasons = [r.get("Code") for r in exc.response.get("CancellationReasons", [])]
            if "ConditionalCheckFailed" not in reasons:
                raise ConcurrentUpdate(str(reasons)) from exc
            return [code == "ConditionalCheckFailed" for code in reasons]
        except client.exceptions.TransactionConflictException as exc:
            raise ConcurrentUpdate("transaction conflict") from exc
        return []

    def revoke(self, revoked: ApiKeyRecord) -> str:
        """Mark the key revoked (and, for an admin key, count one admin less) in one transaction:
        "revoked"; "already" when it was revoked before; "last_admin" (nothing written) when it is
        the account's last unrevoked admin key."""
        update = {"Update": {
            "TableName": self.repo.table, "Key": to_wire(keys.api_key_key(revoked.key_hash)),
            "UpdateExpression": "SET revokedAt = :at, revokedBy = :by",
            "ConditionExpression": "attribute_exists(PK) AND attribute_not_exists(revokedAt)",
            "ExpressionAttributeValues": to_wire({":at": to_iso(revoked.revoked_at), ":by": revoked.revoked_by}),
        }}
        operations = [update]
        if revoked.scope == "admin":
            operations.append(self._admins_op(revoked.account_id, -1))
        failed = self.transact(operations)
        if not failed:
            return "revoked"
        return "already" if failed[0] else "last_admin"

    def touch(self, key_hash: str, now: datetime, unless_since: datetime) -> None:
        """Set lastUsedAt = now unless it is at or after `unless_since` already (one write a minute
        at most, however many requests; a lost race writes nothing)."""
        client = self.client
        try:
            client.update_item(
                TableName=self.repo.table, Key=to_wire(keys.api_key_key(key_hash)),
                UpdateExpression="SET lastUsedAt = :now",
                ConditionExpression="attribute_exists(PK) AND (attribute_not_exists(lastUsedAt) OR lastUsedAt < :since)",
                ExpressionAttributeValues=to_wire({":now": to_iso(now), ":since": to_iso(unless_since)}))
        except client.exceptions.ConditionalCheckFailedException:
            pass
