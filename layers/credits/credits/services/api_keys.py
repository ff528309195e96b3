"""API-key use cases: create (the key shown once), list, get, revoke (never the account's last
admin key), provision (the api-key tool and CREDITS_API_KEYS: admin keys), and authenticate (the
authorizer: the key's record, lastUsedAt kept to the minute). Rules: domain/access.py."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from credits.domain.access import LAST_USED_RESOLUTION_SECONDS, hash_key, new_api_key_secret
from credits.domain.actors import current_actor
from credits.domain.clock import utcnow
from credits.domain.errors import Conflict, InvalidRequest, NotFound
from credits.domain.ids import new_api_key_id
from credits.domain.records import ApiKeyRecord, Page
from credits.services.retry import with_retries

if TYPE_CHECKING:  # the authorizer imports this module: not the ports' other records and rules
    from credits.services.ports import ApiKeyStore

PROVISIONED_NAME = "admin key (api-key tool)"


class ApiKeyService:
    def __init__(self, store: ApiKeyStore, clock: Callable[[], datetime] = utcnow):
        self.store = store
        self.clock = clock

    def _new(self, account_id: str, name: str, scope: str, secret: str) -> ApiKeyRecord:
        return ApiKeyRecord(id=new_api_key_id(), account_id=account_id, name=name, scope=scope,
                            key_hash=hash_key(secret), created_at=self.clock())

    def create(self, account_id: str, name: str, scope: str) -> tuple[ApiKeyRecord, str]:
        """A new key of the account: (its record, the key itself, which is never stored)."""
        secret = new_api_key_secret()
        key = self._new(account_id, name, scope, secret)
        if not self.store.put_new(key):  # a random 256-bit key met a stored one: cannot happen
            raise Conflict("could not store the new key; retry")
        return key, secret

    def provision(self, account_id: str, secret: str, name: str = PROVISIONED_NAME) -> bool:
        """Store an admin key given by the operator; False (and nothing changes) when the key is
        stored already, for this account or another, revoked or not."""
        if not secret:
            raise InvalidRequest("the key must not be empty", field="key")
        return self.store.put_new(self._new(account_id, name, "admin", secret))

    def get(self, account_id: str, key_id: str) -> ApiKeyRecord:
        key = self.store.get(account_id, key_id)
        if key is None:
            raise NotFound(f"API key {key_id} not found", field="keyId")
        return key

    def current(self, account_id: str, actor: dict[str, str] | None) -> ApiKeyRecord:
        """The key a request acts as (its actor), read by any scope."""
        if not actor or actor.get("type") != "api_key":
            raise NotFound("this request was not made with an API key of the account", field="keyId")
        return self.get(account_id, actor["id"])

    def list(self, account_id: str, *, limit: int, after: str | None, before: str | None) -> Page:
        if after and before:
            raise InvalidRequest("give after or before, not both", field="before")
        return self.store.list(account_id, limit=limit, after=after, before=before)

    def revoke(self, account_id: str, key_id: str) -> ApiKeyRecord:
        """Revoke a key (it answers 401 once the authorizer's cache of it expires); revoking a
        revoked key returns it unchanged. The account's last admin key cannot be revoked (409)."""

        def attempt() -> ApiKeyRecord:
            key = self.get(account_id, key_id)
            if key.revoked_at is not None:
                return key
            revoked = key.evolve(revoked_at=self.clock(), revoked_by=current_actor())
            outcome = self.store.revoke(revoked)
            if outcome == "last_admin":
                raise Conflict("this is the account's last admin key: create another admin key before revoking it",
                               field="keyId")
            return revoked if outcome == "revoked" else self.get(account_id, key_id)

        return with_retries(attempt, 10)

    def authenticate(self, secret: str | None) -> ApiKeyRecord | None:
        """The unrevoked key a request presents, or None. Its lastUsedAt moves at most once a
        minute (a conditional write, only when the record read is older than that)."""
        if not secret:
            return None
        key = self.store.by_hash(hash_key(secret))
        if key is None or key.revoked_at is not None:
            return None
        now = self.clock()
        since = now - timedelta(seconds=LAST_USED_RESOLUTION_SECONDS)
        if key.last_used_at is None or key.last_used_at < since:
            self.store.touch(key.key_hash, now, since)
        return key
