"""Powertools idempotency records live in the service's table under their own partition key."""

from __future__ import annotations

from credits.settings import Settings
from credits.store import keys


def make_persistence_layer(settings: Settings):
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

    from credits.store.dynamo import make_client

    return DynamoDBPersistenceLayer(
        table_name=settings.table_name, key_attr="PK", sort_key_attr="SK", static_pk_value=keys.IDEMPOTENCY_PK,
        boto3_client=make_client(settings),
    )
