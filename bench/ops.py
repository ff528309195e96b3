"""Per-operation figures: DynamoDB round trips and consumed capacity (one metered call each),
and warm latency through the handler next to the floor (the raw boto3 calls it needs, replayed
with a bare client), sampled alternately so both see the same DynamoDB Local."""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bench import config
from bench.harness import (
    TABLE,
    CapturingRepository,
    Env,
    api_event,
    burn_index_query,
    customer_grants_query,
    get_key,
    make_grant,
    percentiles,
    query_all,
    run_all,
    seed,
    shard_queries,
    timed,
)

W = "acct_w"       # write operations
R = "acct_read"    # read operations
CHUNK = 32


@dataclass
class Op:
    name: str
    service: Callable[[int], Any]            # sample i through the handler
    floor: Callable[[int], Any] | None       # sample i as raw calls
    minimum: str                             # the fewest calls possible, as a formula
    minimum_calls: int
    extra: str = ""                          # what the service does beyond that, and why
    samples: int = 0
    warmup: int = 0
    results: dict[str, Any] = field(default_factory=dict)


def _transact_all(client: Any, captured: list[list[dict[str, Any]]]) -> None:
    for operations in captured:
        client.transact_write_items(TransactItems=operations)


def build_ops(env: Env) -> list[Op]:
    """Seed what every operation needs (fresh grants for each write sample) and define them."""
    from credits.models.api import ApplyRequest, CreateGrantRequest
    from credits.services.applications import ApplicationService
    from credits.services.grants import GrantService
    from credits.store import keys
    from credits.store.sharded import shard_limit

    client, floor = env.raw, env.floor
    settings = env.repo.settings
    n, big, warm = config.SAMPLES, config.SAMPLES_BIG, config.WARMUP
    seeded: list[Any] = []

    # ---- reads: acct_read has 200 grants over 5 customers; cus_read has 40 (with their entries)
    read_grants = [make_grant(R, "cus_read", n=i) for i in range(40)]
    others = [make_grant(R, f"cus_other_{i % 4}", n=i) for i in range(160)]
    seed(client, read_grants, entry=True)
    seed(client, others)
    target = read_grants[0]

    # ---- void: one customer per sample (service and floor), each with one grant
    total = n + warm + 1
    void_service = [make_grant(W, f"cus_void_{i}") for i in range(total)]
    void_floor = [make_grant(W, f"cus_voidf_{i}") for i in range(total)]
    seeded += void_service + void_floor

    # ---- apply touching k grants: one fresh customer per sample with exactly k grants of 1.00
    apply_sizes = {1: total, 10: total, 150: big + 2}
    apply_customers: dict[tuple[int, str], list[str]] = {}
    apply_grants: dict[str, list[Any]] = {}
    for k, count in apply_sizes.items():
        for side in ("s", "f"):
            names = [f"cus_ap{k}{side}_{i}" for i in range(count)]
            apply_customers[(k, side)] = names
            for name in names:
                apply_grants[name] = [make_grant(W, name, amount="1.00", n=j) for j in range(k)]
                seeded += apply_grants[name]
    seed(client, seeded, ref=True)

    def apply_body(customer: str, k: int, invoice: str) -> dict[str, Any]:
        return {"invoiceId": invoice, "customerId": customer, "currency": "USD",
                "lines": [{"lineId": "l1", "amount": f"{k}.00"}]}

    # Floors of apply / release: the service's exact writes, captured over an in-memory copy.
    captured_apply: dict[str, list[list[dict[str, Any]]]] = {}
    captured_release: dict[str, list[list[dict[str, Any]]]] = {}

    def capture_apply(customer: str, k: int) -> None:
        repo = CapturingRepository(settings, apply_grants[customer])
        service = ApplicationService(repo)
        service.apply(W, ApplyRequest.model_validate(apply_body(customer, k, f"inv_{customer}")))
        captured_apply[customer] = repo.take()
        if k == 10:
            service.release(W, f"inv_{customer}")
            captured_release[customer] = repo.take()

    for (k, side), names in apply_customers.items():
        if side == "f":
            for name in names:
                capture_apply(name, k)

    def captured_void(i: int) -> list[list[dict[str, Any]]]:
        repo = CapturingRepository(settings, [void_floor[i]])
        GrantService(repo).void(W, void_floor[i].id, "bench")
        return repo.take()

    void_writes = [captured_void(i) for i in range(total)]

    # ---- operations
    ops: list[Op] = []
    grant_body = {"customerId": "cus_new", "name": "bench", "type": "CASH", "amount": "10.00", "currency": "USD"}

    def grant_floor(i: int) -> None:
        repo = CapturingRepository(settings, [])
        GrantService(repo).create(W, CreateGrantRequest.model_validate(grant_body))
        writes = repo.take()
        timed_part.append(timed(lambda: _transact_all(floor, writes)))

    timed_part: list[float] = []  # floors that build their request first report only the calls' time
    ops.append(Op("grant", lambda i: env.invoke("GrantFunction", api_event("POST", "/credit-grants", account=W, body=grant_body)),
                  grant_floor, "1 TransactWriteItems (grant + id reference + GRANTED entry)", 1))
    ops.append(Op("get", lambda i: env.invoke("ListFunction", api_event("GET", f"/credit-grants/{target.id}", account=R)),
                  lambda i: (floor.get_item(**get_key(keys.grant_ref_key(R, target.id))),
                             floor.get_item(**get_key({"PK": keys.customer_pk(R, "cus_read"), "SK": keys.grant_sk(target.id)}))),
                  "2 GetItem (id reference → customer partition, then the grant)", 2,
                  "none for this key design (1 GetItem if grant ids carried the customer)"))
    list_queries = shard_queries(R, per_shard=shard_limit(21, keys.ACCOUNT_SHARDS))
    ops.append(Op("list page (20 of 200)", lambda i: env.invoke("ListFunction", api_event("GET", "/credit-grants", account=R, query={"limit": "20"})),
                  lambda i: run_all(floor, list_queries), f"{keys.ACCOUNT_SHARDS} Queries at once (one per GSI1 shard, "
                  "about its share of limit+1 items)", keys.ACCOUNT_SHARDS,
                  "+1 BatchGetItem of the account's 16 grant-counter shards for `totalResultSize` (flat in the "
                  "account; a `customerId` or `status` filter is counted with a Query Select=COUNT instead)"))
    ops.append(Op("balance (40 grants)", lambda i: env.invoke("ListFunction", api_event("GET", "/customers/cus_read/credit-balance", account=R)),
                  lambda i: query_all(floor, customer_grants_query(R, "cus_read")),
                  "1 Query (every grant of the customer, ⌈size/1 MB⌉ pages)", 1))
    ledger_query = {"TableName": TABLE, "ConsistentRead": True, "KeyConditionExpression": "PK = :pk AND begins_with(SK, :sk)",
                    "ExpressionAttributeValues": {":pk": {"S": keys.customer_pk(R, "cus_read")}, ":sk": {"S": keys.LEDGER_SK_PREFIX}},
                    "Limit": 25}
    ops.append(Op("transactions page (20 of 40)", lambda i: env.invoke("ListFunction", api_event("GET", "/customers/cus_read/credit-transactions", account=R, query={"limit": "20"})),
                  lambda i: floor.query(**ledger_query), "1 Query (customer partition, limit+1 items)", 1,
                  "+1 Query Select=COUNT for `totalResultSize` (grows with the customer's ledger)"))

    def void_floor_call(i: int) -> None:
        g = void_floor[i]
        floor.get_item(**get_key(keys.grant_ref_key(W, g.id)))
        floor.get_item(**get_key({"PK": keys.customer_pk(W, g.customer_id), "SK": keys.grant_sk(g.id)}))
        _transact_all(floor, void_writes[i])

    ops.append(Op("void", lambda i: env.invoke("VoidFunction", api_event("POST", f"/credit-grants/{void_service[i].id}/void", account=W, body={"reason": "bench"})),
                  void_floor_call, "2 GetItem + 1 TransactWriteItems (grant + VOIDED entry)", 3,
                  "+1 Query of one page of the burn-down index (LSI1), to mark `balance_depleted` on the entry "
                  "when the void empties the customer's balance (flat in the customer's grants)"))

    for k in (1, 10, 150):
        chunks = math.ceil(k / CHUNK)

        def service(i: int, k: int = k) -> None:
            customer = apply_customers[(k, "s")][i]
            env.invoke("ApplyFunction", api_event("POST", "/credit-applications", account=W,
                                                  body=apply_body(customer, k, f"inv_{customer}")))

        def apply_floor(i: int, k: int = k) -> None:
            customer = apply_customers[(k, "f")][i]
            query_all(floor, burn_index_query(W, customer, "USD", k + 1))
            _transact_all(floor, captured_apply[customer])

        # The first chunk's attribute_not_exists condition answers the replay check, and the
        # response comes from the record just committed: a one-chunk apply is at its minimum.
        pages = 1
        while 16 * (2 ** pages - 1) <= k:
            pages += 1
        extra = "none"
        if pages > 1:
            extra = (f"the burn-down index is read in pages that double from 16 (+{pages - 1} Query): an invoice "
                     f"that needs few grants reads one small page; later chunks plan on what this call read and wrote")
        ops.append(Op(f"apply touching {k}", service, apply_floor,
                      f"1 Query (burn-down index, {k}+1 items) + {chunks} TransactWriteItems (⌈{k}/{CHUNK}⌉ chunks)",
                      1 + chunks, extra,
                      samples=big if k == 150 else 0, warmup=1 if k == 150 else 0))

    def release_service(i: int) -> None:
        customer = apply_customers[(10, "s")][i]
        env.invoke("ApplyFunction", api_event("POST", f"/credit-applications/inv_{customer}/release", account=W))

    def release_floor(i: int) -> None:
        customer = apply_customers[(10, "f")][i]
        floor.get_item(**get_key(keys.application_key(W, f"inv_{customer}")))
        query_all(floor, customer_grants_query(W, customer))
        _transact_all(floor, captured_release[customer])

    ops.append(Op("release (10 grants)", release_service, release_floor,
                  "1 GetItem (application) + 1 Query + 1 TransactWriteItems", 3,
                  "+1 GetItem: the application is re-read after the commit to return it"))
    for op in ops:
        op.samples = op.samples or n
        op.warmup = op.warmup if op.name.startswith("apply touching 150") else warm
    ops[0].results["timed_part"] = timed_part
    return ops


def run_ops(env: Env, ops: list[Op], log: Callable[[str], None]) -> None:
    """Sample index 0 is the metered call (round trips, capacity); then warm-up; then samples,
    service and floor alternately."""
    for op in ops:
        env.meter.reset()
        env.meter.inject = True
        op.service(0)
        env.meter.inject = False
        op.results["calls"], op.results["capacity"] = env.meter.snapshot()
        index = 1
        for _ in range(op.warmup):
            op.service(index)
            if op.floor:
                op.floor(index)
            index += 1
        service_times, floor_times = [], []
        env.meter.reset()
        timed_part = op.results.get("timed_part")
        for _ in range(op.samples):
            if random.random() < 0.5:
                service_times.append(timed(lambda: op.service(index)))
                floor_times.append(_floor_time(op, index, timed_part))
            else:
                floor_times.append(_floor_time(op, index, timed_part))
                service_times.append(timed(lambda: op.service(index)))
            index += 1
        op.results["service"] = percentiles(service_times)
        op.results["floor"] = percentiles(floor_times)
        op.results["service_raw"] = service_times
        op.results["dynamodb_ms"] = env.meter.call_seconds / max(1, op.samples) * 1000  # mean per call
        log(f"  {op.name:32s} p50 {op.results['service']['p50']:7.1f} ms  floor {op.results['floor']['p50']:7.1f} ms  "
            f"calls {sum(op.results['calls'].values())} (min {op.minimum_calls})")


def _floor_time(op: Op, index: int, timed_part: list[float] | None) -> float:
    if timed_part is None:
        return timed(lambda: op.floor(index))
    op.floor(index)
    return timed_part.pop()
