"""A hot customer's queue batch drawn together (ConsumptionService.consume_together) ends exactly
where the same consumptions one by one end: the same coverage for each, the same grant balances,
one CONSUMED entry per consumption and grant, and the v2 ledger invariant; each grant written once."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import hypothesis.strategies as st
import pytest
from credits.domain.actors import command_actor
from credits.domain.consumption_rules import TOGETHER_MAX
from credits.domain.errors import InsufficientCredits
from credits.models.api import CreateGrantRequest
from credits.models.consumptions import ConsumeRequest
from credits.services.consumptions import ConsumptionService
from credits.services.grants import GrantService
from hypothesis import given, settings

from tests.fakes import InMemoryRepository, ledger_invariant_violations

NOW = datetime(2026, 6, 1, tzinfo=UTC)
ACCOUNT = "acct_together"
CUSTOMER = "cus_hot"

grant_specs = st.lists(st.tuples(st.sampled_from(["USAGE", "CASH", "CASH_API_ONLY"]), st.integers(1, 60),
                                 st.integers(0, 3)), min_size=0, max_size=5)
# One kind per batch: only consumptions of the same balances are drawn together.
kinds = st.sampled_from(["units", "priced units", "money"])
consumption_specs = st.lists(st.tuples(st.integers(1, 25), st.sampled_from(["PARTIAL", "STRICT"])),
                             min_size=2, max_size=12)


def _repo_with(grants: list[tuple[str, int, int]]) -> tuple[InMemoryRepository, list[str]]:
    repo = InMemoryRepository()
    service = GrantService(repo, clock=lambda: NOW)
    ids = []
    for kind, amount, priority in grants:
        body = {"customerId": CUSTOMER, "name": kind, "priority": priority}
        if kind == "USAGE":
            body.update(type="USAGE", amount=str(amount), metricId="api_calls")
        else:
            body.update(type="CASH", amount=f"{amount}.50", currency="USD",
                        applicability={"metricIds": ["api_calls"]} if kind == "CASH_API_ONLY" else None)
        ids.append(service.create(ACCOUNT, CreateGrantRequest(**body)).id)
    return repo, ids


def _request(i: int, kind: str, size: int, mode: str) -> ConsumeRequest:
    body: dict = {"eventId": f"evt_{i}", "customerId": CUSTOMER, "mode": mode}
    if kind == "money":
        body.update(currency="USD", amount=f"{size}.25")
    else:
        body.update(metricId="api_calls", quantity=str(size))
        if kind == "priced units":
            body.update(currency="USD", unitPrice="0.75")
    return ConsumeRequest(**body)


def _outcome(record) -> tuple:
    return (record.covered_units, record.covered_value, record.uncovered_units, record.uncovered_value,
            [(a.type, a.units, a.value, a.line_id) for a in record.allocations])


@settings(max_examples=120, deadline=None, derandomize=True)
@given(grants=grant_specs, kind=kinds, consumptions=consumption_specs)
def test_drawn_together_ends_where_one_by_one_ends(grants, kind, consumptions):
    requests = [_request(i, kind, size, mode) for i, (size, mode) in enumerate(consumptions)]
    alone_repo, alone_ids = _repo_with(grants)
    alone = ConsumptionService(alone_repo, clock=lambda: NOW)
    expected: list[tuple | None] = []
    for request in requests:
        try:
            expected.append(_outcome(alone.consume(ACCOUNT, request)[0]))
        except InsufficientCredits:
            expected.append(None)

    repo, ids = _repo_with(grants)
    service = ConsumptionService(repo, clock=lambda: NOW)
    actors = [command_actor("sqs:q", f"m{i}") for i in range(len(requests))]
    done = service.consume_together([(ACCOUNT, r, a) for r, a in zip(requests, actors, strict=True)])
    uncovered_strict = any(e is None for e in expected)
    if uncovered_strict:
        assert done == {}  # a STRICT one not covered: every one goes its own way
        return
    assert sorted(done) == list(range(len(requests)))
    assert [_outcome(done[i]) for i in range(len(requests))] == expected
    assert [done[i].actor for i in range(len(requests))] == actors
    assert [repo.get_grant(ACCOUNT, g).current_balance for g in ids] == \
        [alone_repo.get_grant(ACCOUNT, g).current_balance for g in alone_ids]
    grants_now = repo.customer_grants(ACCOUNT, CUSTOMER)
    entries = [e for g in grants_now for e in repo.grant_ledger(ACCOUNT, CUSTOMER, g.id)]
    assert ledger_invariant_violations(grants_now, entries, []) == []
    consumed = [e for e in entries if e.type == "CONSUMED"]
    assert len(consumed) == sum(len({a.grant_id for a in done[i].allocations}) for i in done)
    # Each grant was written once (its version moved by one), whatever number drew on it.
    assert all(g.version == alone_repo.get_grant(ACCOUNT, alone_ids[ids.index(g.id)]).version - (
        len({i for i in done if any(a.grant_id == g.id for a in done[i].allocations)}) - 1
        if any(a.grant_id == g.id for i in done for a in done[i].allocations) else 0) for g in grants_now)


def test_a_replay_or_a_repeated_event_id_goes_its_own_way():
    repo, _ = _repo_with([("USAGE", 100, 0)])
    service = ConsumptionService(repo, clock=lambda: NOW)
    first = _request(0, "units", 5, "PARTIAL")
    service.consume(ACCOUNT, first)
    batch = [(ACCOUNT, first, None), (ACCOUNT, _request(1, "units", 5, "PARTIAL"), None)]
    assert service.consume_together(batch) == {}  # evt_0 is taken: both go one by one
    again = [(ACCOUNT, _request(2, "units", 1, "PARTIAL"), None), (ACCOUNT, _request(2, "units", 1, "PARTIAL"), None),
             (ACCOUNT, _request(3, "units", 1, "PARTIAL"), None), (ACCOUNT, _request(4, "units", 1, "PARTIAL"), None)]
    assert sorted(service.consume_together(again)) == [2, 3]  # evt_2 twice: alone; evt_3, evt_4 together


@pytest.mark.parametrize("count", [TOGETHER_MAX + 5])
def test_a_long_run_is_split_in_parts_that_fit_a_transaction(count):
    repo, [grant_id] = _repo_with([("USAGE", 1000, 0)])
    service = ConsumptionService(repo, clock=lambda: NOW)
    created = repo.get_grant(ACCOUNT, grant_id).version
    done = service.consume_together([(ACCOUNT, _request(i, "units", 2, "STRICT"), None) for i in range(count)])
    assert len(done) == count
    grant = repo.get_grant(ACCOUNT, grant_id)
    assert grant.current_balance == Decimal(1000 - 2 * count)
    assert grant.version == created + 2  # two parts, each one write of the grant
