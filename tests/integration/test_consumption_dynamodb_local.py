"""Real-time consumption on DynamoDB Local: contention never spends more than was granted, one
eventId consumes once from any number of threads, and the aggregates stay exact."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
from credits.domain.errors import InsufficientCredits
from credits.models.api import CreateGrantRequest
from credits.models.consumptions import ConsumeRequest
from credits.services.consumptions import ConsumptionService
from credits.services.grants import GrantService

ACCOUNT = "acct_consume"


@pytest.fixture
def services(table):
    from credits.container import repository

    repo = repository()
    return repo, GrantService(repo), ConsumptionService(repo, attempts=200)


def test_32_concurrent_strict_consumptions_of_one_unit_against_20(services):
    repo, grants, consumptions = services
    grants.create(ACCOUNT, CreateGrantRequest(customerId="cus_hot", name="u", type="USAGE", amount="12",
                                              metricId="api_calls"))
    grants.create(ACCOUNT, CreateGrantRequest(customerId="cus_hot", name="u", type="USAGE", amount="8",
                                              metricId="api_calls", priority=10))

    def one(_):
        try:
            consumptions.consume(ACCOUNT, ConsumeRequest(eventId=uuid.uuid4().hex, customerId="cus_hot",
                                                         metricId="api_calls", quantity="1", mode="STRICT"))
            return "ok"
        except InsufficientCredits:
            return "402"

    with ThreadPoolExecutor(max_workers=32) as pool:
        outcomes = list(pool.map(one, range(32)))
    assert outcomes.count("ok") == 20 and outcomes.count("402") == 12
    assert all(g.current_balance == 0 for g in repo.customer_grants(ACCOUNT, "cus_hot"))
    assert consumptions.entitlement(ACCOUNT, "cus_hot", "api_calls")[0] == 0


def test_one_event_id_from_10_threads_consumes_once(services):
    repo, grants, consumptions = services
    grant = grants.create(ACCOUNT, CreateGrantRequest(customerId="cus_once", name="c", type="CASH", amount="10.00",
                                                      currency="USD"))
    request = ConsumeRequest(eventId="use_same", customerId="cus_once", currency="USD", amount="2.50")
    with ThreadPoolExecutor(max_workers=10) as pool:
        results = list(pool.map(lambda _: consumptions.consume(ACCOUNT, request), range(10)))
    assert sum(created for _, _, created in results) == 1
    assert len({record.id for record, _, _ in results}) == 1
    assert repo.get_grant(ACCOUNT, grant.id).current_balance == Decimal("7.50")
    entries = repo.grant_ledger(ACCOUNT, "cus_once", grant.id)
    assert [e.type for e in entries].count("CONSUMED") == 1
