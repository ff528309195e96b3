"""The only wiring: the adapters and services each handler uses, built once per process on first
use. Imports are made inside these functions on purpose (the package's one exception): a
function's cold start then pays only for the services its first request needs — the expiry
sweep never imports the Stripe view, the API functions never import the sweep."""

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

    return GrantService(repository(), attempts=get_settings().max_write_attempts, tax_rates=tax_rate_store(),
                        clock=customer_clock())


@lru_cache(maxsize=1)
def query_service():
    from credits.services.queries import QueryService

    return QueryService(repository(), clock=customer_clock())


@lru_cache(maxsize=1)
def application_service():
    from credits.services.applications import ApplicationService

    return ApplicationService(repository(), attempts=get_settings().max_write_attempts, clock=customer_clock())


@lru_cache(maxsize=1)
def consumption_service():
    from credits.services.consumptions import ConsumptionService

    return ConsumptionService(repository(), attempts=get_settings().max_write_attempts, clock=customer_clock())


@lru_cache(maxsize=1)
def watch_service():
    from credits.services.watches import WatchService
    from credits.store.watches_store import DynamoWatchStore

    repo = repository()
    return WatchService(repo, DynamoWatchStore(repo))


@lru_cache(maxsize=1)
def schedule_service():
    from credits.services.schedules import ScheduleService
    from credits.store.schedules_store import ScheduleStore

    return ScheduleService(ScheduleStore(repository()), clock=customer_clock())


@lru_cache(maxsize=1)
def tax_rate_store():
    from credits.store.tax_rates_store import DynamoTaxRateStore

    return DynamoTaxRateStore(repository())


@lru_cache(maxsize=1)
def tax_rate_service():
    from credits.services.tax_rates import TaxRateService

    return TaxRateService(tax_rate_store())


@lru_cache(maxsize=1)
def api_key_service():
    from credits.services.api_keys import ApiKeyService
    from credits.store.api_keys_store import DynamoApiKeyStore

    return ApiKeyService(DynamoApiKeyStore(repository()))


@lru_cache(maxsize=1)
def api_key_authenticator():
    """The authorizer's ApiKeyService: its store reads the key's item through a bare Table, not
    the repository (whose module imports every record mapping and the report rules): a measured
    cold start, and the authorizer is in front of every API request (BENCHMARKS.md "Cold start")."""
    from credits.services.api_keys import ApiKeyService
    from credits.store.api_keys_store import DynamoApiKeyStore
    from credits.store.client import Table

    return ApiKeyService(DynamoApiKeyStore(Table(get_settings())))


@lru_cache(maxsize=1)
def audit_service():
    from credits.services.audit import AuditService
    from credits.store.audit_store import DynamoAuditStore

    return AuditService(DynamoAuditStore(repository()))


@lru_cache(maxsize=1)
def customer_service():
    from credits.services.customers import CustomerService
    from credits.store.customers_store import DynamoCustomerDirectory

    repo = repository()
    return CustomerService(repo, DynamoCustomerDirectory(repo), clock=customer_clock())


@lru_cache(maxsize=1)
def stripe_queries():
    from credits.services.stripe_queries import StripeQueryService
    from credits.store.stripe_store import DynamoStripeStore

    repo = repository()
    return StripeQueryService(repo, DynamoStripeStore(repo), clock=customer_clock())


@lru_cache(maxsize=1)
def expiry_service():
    from datetime import timedelta

    from credits.services.expiry import ExpiryService
    from credits.store.sweeps import DynamoSweepStore

    return ExpiryService(DynamoSweepStore(repository()), lead=timedelta(days=get_settings().expiring_soon_lead_days))


@lru_cache(maxsize=1)
def recovery_service():
    from datetime import timedelta

    from credits.services.recovery import RecoveryService
    from credits.store.sweeps import DynamoSweepStore

    return RecoveryService(DynamoSweepStore(repository()), application_service(),
                           grace=timedelta(seconds=get_settings().unfinished_grace_seconds))


@lru_cache(maxsize=1)
def test_clock_store():
    from credits.store.test_clocks_store import DynamoTestClockStore

    return DynamoTestClockStore(repository())


@lru_cache(maxsize=1)
def customer_clock():
    """The one clock port: a customer's now (its test clock's time). Live mode has no test
    clocks, so there it never reads anything."""
    from credits.services.test_clocks import CustomerClock

    return CustomerClock(None if get_settings().livemode else test_clock_store())


@lru_cache(maxsize=1)
def test_clock_service():
    """Test clocks: an advance runs the scheduled run's own services over the clock's queues,
    at each due instant; unfinished work goes to TestClockFunction through the bus."""
    from datetime import timedelta

    from credits.services.expiry import ExpiryService
    from credits.services.schedules import ScheduleService
    from credits.services.test_clocks import TestClockService, WORK_DETAIL_TYPE, WORK_SOURCE, run_due_at
    from credits.store.schedules_store import ScheduleStore
    from credits.store.sweeps import DynamoSweepStore

    repo = repository()
    lead = timedelta(days=get_settings().expiring_soon_lead_days)

    def run_due(clock_id, instant, deadline=None):
        return run_due_at(
            ExpiryService(DynamoSweepStore(repo, test_clock_id=clock_id), lead=lead, clock=lambda: instant, workers=1,
                          reserve_ms=0),
            ScheduleService(ScheduleStore(repo, test_clock_id=clock_id), clock=lambda: instant), instant, deadline)

    def kick(clock):
        publisher().put_work(WORK_SOURCE, WORK_DETAIL_TYPE,
                             {"accountId": clock.account_id, "testClockId": clock.id, "version": clock.version})

    return TestClockService(test_clock_store(), run_due, kick=kick)


@lru_cache(maxsize=2)
def idempotency_persistence(kind: str = "http"):
    """One persistence layer per kind of key: Powertools binds a layer to the first config it is
    used with, so HTTP requests and EventBridge commands must not share one."""
    from credits.store.idempotency_store import make_persistence_layer

    return make_persistence_layer(get_settings(), repository().client)


@lru_cache(maxsize=1)
def publisher():
    from credits.publish.eventbridge import EventBridgePublisher

    return EventBridgePublisher(get_settings())


_CACHED = (repository, grant_service, query_service, application_service, consumption_service, watch_service,
           schedule_service, tax_rate_store, tax_rate_service, api_key_service, api_key_authenticator, audit_service,
           customer_service, stripe_queries, expiry_service, recovery_service,
           idempotency_persistence, publisher, test_clock_store, customer_clock, test_clock_service)


def reset() -> None:
    """Forget the settings and every adapter built from them (tests switch tables and endpoints)."""
    get_settings.cache_clear()
    for built in _CACHED:
        built.cache_clear()
