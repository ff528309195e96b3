"""Wiring: the adapters and services each handler uses, built once per process on first use
(never at import time, so a cold start pays only for what its first request needs)."""

from __future__ import annotations

from functools import lru_cache

from credits.settings import get_settings


@lru_cache(maxsize=1)
def repository():
    from credits.store.dynamo import DynamoRepository

    return DynamoRepository(get_settings())


@lru_cache(maxsize=1)
def grant_service():
    from credits.services.grants import GrantService

    return GrantService(repository(), attempts=get_settings().max_write_attempts)


def reset() -> None:
    """Forget cached adapters (tests switch tables and endpoints)."""
    from credits import settings
    from credits.api.resolver import idempotency

    settings.get_settings.cache_clear()
    repository.cache_clear()
    grant_service.cache_clear()
    for name in ("query_service", "application_service", "expiry_service"):
        cached = globals().get(name)
        if cached is not None:
            cached.cache_clear()
    idempotency._persistence.clear()


@lru_cache(maxsize=1)
def query_service():
    from credits.services.queries import QueryService

    return QueryService(repository())


@lru_cache(maxsize=1)
def application_service():
    from credits.services.applications import ApplicationService

    return ApplicationService(repository(), attempts=get_settings().max_write_attempts)


@lru_cache(maxsize=1)
def expiry_service():
    from datetime import timedelta

    from credits.services.expiry import ExpiryService
    from credits.store.sweeps import DynamoSweepStore

    return ExpiryService(DynamoSweepStore(repository()), lead=timedelta(days=get_settings().expiring_soon_lead_days))
