"""The fault tier runs on DynamoDB Local, with the integration tier's fixtures."""

from tests.integration.conftest import _reset_core_caches, dynamodb_local, dynamodb_url, table  # noqa: F401
