"""Powertools idempotency records in the service's table, one partition per account and route
(never one partition for every idempotent request of every account)."""

from __future__ import annotations

from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

from credits.settings import Settings
from credits.store import keys
from credits.store.client import make_client


class ScopedPersistenceLayer(DynamoDBPersistenceLayer):
    """Powertools names a record `<key_prefix>#<hash>`; the request's scope (account and route,
    given as key_prefix) becomes the partition key and the hash the sort key."""

    def _get_key(self, idempotency_key: str) -> dict:
        scope, _, hashed = idempotency_key.rpartition("#")
        return {self.key_attr: {"S": keys.idempotency_pk(scope)}, self.sort_key_attr: {"S": hashed}}


def make_persistence_layer(settings: Settings, client=None) -> ScopedPersistenceLayer:
    """Over `client` when given: the repository's, so a keyed request does not build a second
    DynamoDB client (a measured cold-start cost, BENCHMARKS.md "Cold start")."""
    return ScopedPersistenceLayer(table_name=settings.table_name, key_attr="PK", sort_key_attr="SK",
                                  boto3_client=client or make_client(settings))
