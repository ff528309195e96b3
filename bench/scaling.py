"""How latency and throughput move with size: apply and balance with 1…1,000 grants on the
customer, list pages (and balance) with 10…N grants in the account, expiry sweep throughput."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from bench import config
from bench.harness import (
    TABLE,
    CapturingRepository,
    Env,
    api_event,
    customer_grants_query,
    make_grant,
    run_all,
    shard_queries,
    percentiles,
    query_all,
    seed,
    timed,
)


def _sample(action: Callable[[], Any], samples: int, warmup: int = 3) -> list[float]:
    for _ in range(warmup):
        action()
    return [timed(action) for _ in range(samples)]


# ---------------------------------------------------------------- grants on the customer


def customer_scaling(env: Env, log: Callable[[str], None]) -> list[dict[str, Any]]:
    """One customer per size: a priority-0 grant large enough for every invoice (the one touched)
    and size-1 others that the invoice never reaches."""
    account = "acct_scale"
    rows = []
    for size in config.CUSTOMER_SIZES:
        customer = f"cus_scale_{size}"
        grants = [make_grant(account, customer, amount="1000000.00", priority=0)]
        grants += [make_grant(account, customer, amount="10.00", priority=100, n=i) for i in range(size - 1)]
        seeded_s = seed(env.raw, grants, ref=False)
        counter = iter(range(10**9))

        def apply() -> None:
            env.invoke("ApplyFunction", api_event("POST", "/credit-applications", account=account, body={
                "invoiceId": f"inv_{customer}_{next(counter)}", "customerId": customer, "currency": "USD",
                "lines": [{"lineId": "l1", "amount": "0.01"}]}))

        def balance() -> None:
            env.invoke("ListFunction", api_event("GET", f"/customers/{customer}/credit-balance", account=account))

        env.meter.reset()
        apply()
        apply_calls, _ = env.meter.snapshot()
        env.meter.reset()
        balance()
        balance_calls, _ = env.meter.snapshot()
        row = {"size": size, "apply": percentiles(_sample(apply, config.SCALE_SAMPLES)),
               "balance": percentiles(_sample(balance, config.SCALE_SAMPLES)),
               "query": percentiles(_sample(lambda: query_all(env.floor, customer_grants_query(account, customer)),
                                            config.SCALE_SAMPLES)),
               "apply_calls": apply_calls, "balance_calls": balance_calls, "seed_s": seeded_s}
        rows.append(row)
        log(f"  {size:6d} grants on the customer: apply p50 {row['apply']['p50']:7.1f} ms, balance p50 "
            f"{row['balance']['p50']:7.1f} ms, raw Query {row['query']['p50']:7.1f} ms (seeded in {seeded_s:.1f}s)")
    return rows


# ---------------------------------------------------------------- grants in the account


def list_scaling(env: Env, log: Callable[[str], None]) -> list[dict[str, Any]]:
    """One account grown step by step; at each size a list page (limit 20), its floor (one Query
    per GSI1 shard, at once, of about its share of limit+1), the COUNT query alone, and the balance of a customer with 10 grants."""
    from credits.store import keys
    from credits.store.sharded import count, shard_limit

    account = "acct_list"
    seed(env.raw, [make_grant(account, "cus_fixed", n=i) for i in range(10)], ref=False)
    present = 10
    rows = []
    pages = shard_queries(account, per_shard=shard_limit(21, keys.ACCOUNT_SHARDS))
    counts = [{k: v for k, v in page.items() if k != "Limit"} | {"Select": "COUNT"} for page in pages]
    for size in config.LIST_SIZES:
        started = time.monotonic()
        while present < size:
            step = min(size - present, 5000)
            seed(env.raw, [make_grant(account, f"cus_l{(present + i) % 997}", n=present + i) for i in range(step)],
                 ref=False)
            present += step
        seeded_s = time.monotonic() - started

        def list_page() -> None:
            env.invoke("ListFunction", api_event("GET", "/credit-grants", account=account, query={"limit": "20"}))

        def balance() -> None:
            env.invoke("ListFunction", api_event("GET", "/customers/cus_fixed/credit-balance", account=account))

        env.meter.reset()
        list_page()
        calls, _ = env.meter.snapshot()
        # A page at 100,000 grants takes seconds (its COUNT): fewer samples there.
        slow = size >= 20000
        samples = config.SCALE_SAMPLES if size < 10000 else max(3 if slow else 5, config.SCALE_SAMPLES // (6 if slow else 3))
        row = {"size": size, "list": percentiles(_sample(list_page, samples, warmup=0 if slow else 3)),
               "floor": percentiles(_sample(lambda: run_all(env.floor, pages), config.SCALE_SAMPLES)),
               "count": percentiles(_sample(lambda: sum(count(env.floor, c) for c in counts), samples,
                                            warmup=0)),
               "balance": percentiles(_sample(balance, config.SCALE_SAMPLES)), "list_calls": calls, "seed_s": seeded_s}
        rows.append(row)
        log(f"  {size:6d} grants in the account: list p50 {row['list']['p50']:7.1f} ms (floor {row['floor']['p50']:.1f}, "
            f"COUNT alone {row['count']['p50']:.1f}), balance p50 {row['balance']['p50']:.1f} ms; "
            f"{sum(calls.values())} calls; seeded in {seeded_s:.1f}s")
    return rows


# ---------------------------------------------------------------- expiry


def _due_grants(account: str, n: int) -> list[Any]:
    from credits.domain.clock import utcnow

    now = utcnow()
    return [make_grant(account, f"cus_e{i % 20}", expires_at=now - timedelta(hours=1 + i % 24),
                       created=now - timedelta(days=40), n=i) for i in range(n)]


def expiry_scaling(env: Env, log: Callable[[str], None]) -> list[dict[str, Any]]:
    """A sweep (ExpiryService over the DynamoDB adapter, 4 shard threads) of exactly N due grants,
    batched (the default) and one transaction per grant; the smallest of each is metered."""
    from credits import container
    from credits.domain.expiry_rules import BATCH_GRANTS
    from credits.services.expiry import ExpiryService
    from credits.store.sweeps import DynamoSweepStore

    rows = []
    plans = [(BATCH_GRANTS, n) for n in config.EXPIRY_SIZES] + [(1, n) for n in config.EXPIRY_UNBATCHED_SIZES]
    metered = {min(config.EXPIRY_SIZES), min(config.EXPIRY_UNBATCHED_SIZES)}
    first = {BATCH_GRANTS: True, 1: True}
    for batch, n in plans:
        seeded_s = seed(env.raw, _due_grants(f"acct_exp_{batch}_{n}", n), ref=False)
        service = ExpiryService(DynamoSweepStore(container.repository()), lead=timedelta(days=7), batch_grants=batch)
        inject = first[batch] and n in metered
        first[batch] = False
        env.meter.reset()
        env.meter.inject = inject
        started = time.perf_counter()
        summary = service.run()
        elapsed = time.perf_counter() - started
        env.meter.inject = False
        calls, capacity = env.meter.snapshot()
        if summary.expired != n or summary.more_remaining:
            raise RuntimeError(f"expiry of {n}: {summary}")
        row = {"batch": batch, "n": n, "seconds": elapsed, "rate": n / elapsed, "calls": calls,
               "capacity": capacity if inject else None, "seed_s": seeded_s}
        rows.append(row)
        log(f"  expiry of {n:6d} grants, {batch:2d} a transaction: {elapsed:6.2f} s = {row['rate']:6.1f} grants/s "
            f"({sum(calls.values())} calls)")
    return rows


def expiry_floor(env: Env, log: Callable[[str], None]) -> dict[str, Any]:
    """The raw calls an expiry of N needs, one after the other: the shard queries (keys only),
    one consistent BatchGetItem and one TransactWriteItems (grant + EXPIRED entry each) per batch
    of 45 — the requests captured from the service's own adapter."""
    from credits.domain.clock import utcnow
    from credits.domain.expiry_rules import BATCH_GRANTS
    from credits.domain.grant_rules import expire_grant
    from credits.store import keys
    from credits.store.client import to_wire
    from credits.store.sweeps import DynamoSweepStore

    n = config.EXPIRY_FLOOR_SIZE
    grants = _due_grants("acct_expf", n)
    seed(env.raw, grants, ref=False)
    now = utcnow()
    repo = CapturingRepository(env.repo.settings, [])
    store = DynamoSweepStore(repo)
    by_key = {(keys.customer_pk(g.account_id, g.customer_id), keys.grant_sk(g.id)): g for g in grants}
    client = env.floor
    started = time.perf_counter()
    found: list[tuple[str, str]] = []
    for shard in range(keys.SHARDS):
        kwargs: dict[str, Any] = {"TableName": TABLE, "IndexName": "GSI2", "Limit": 100,
                                  "KeyConditionExpression": "GSI2PK = :pk AND GSI2SK <= :until",
                                  "ExpressionAttributeValues": to_wire({":pk": keys.expiry_gsi2pk(shard),
                                                                        ":until": keys.due_sk(now.strftime("%Y-%m-%dT%H:%M:%SZ"), "\uffff")})}
        while True:
            response = client.query(**kwargs)
            found += [(i["PK"]["S"], i["SK"]["S"]) for i in response["Items"]]
            if "LastEvaluatedKey" not in response:
                break
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]
    build_s = 0.0
    for start in range(0, len(found), BATCH_GRANTS):
        batch = found[start:start + BATCH_GRANTS]
        client.batch_get_item(RequestItems={TABLE: {"Keys": [to_wire({"PK": pk, "SK": sk}) for pk, sk in batch],
                                                    "ConsistentRead": True}})
        t = time.perf_counter()
        writes = []
        for key in batch:
            grant = by_key[key]
            updated, entries = expire_grant(grant, now)
            writes.append((updated, grant.version, entries))
        store.save_expired_batch(writes)
        (operations,) = repo.take()
        build_s += time.perf_counter() - t
        client.transact_write_items(TransactItems=operations)
    elapsed = time.perf_counter() - started - build_s
    if len(found) != n:
        raise RuntimeError(f"expiry floor found {len(found)} of {n} due grants")
    row = {"n": n, "seconds": elapsed, "rate": n / elapsed,
           "calls": {"Query": keys.SHARDS + len(found) // 100, "BatchGetItem": math.ceil(n / BATCH_GRANTS),
                     "TransactWriteItems": math.ceil(n / BATCH_GRANTS)}}
    log(f"  expiry floor, {n} grants, raw calls one after the other: {elapsed:.2f} s = {row['rate']:.1f} grants/s")
    return row


def transaction_cost(env: Env, log: Callable[[str], None]) -> list[dict[str, Any]]:
    """What one TransactWriteItems costs on DynamoDB Local by number of items (this table: three
    GSIs and a stream) — the unit every write of the service is made of."""
    from credits.domain.clock import utcnow
    from credits.domain.grant_rules import expire_grant
    from credits.store.sweeps import DynamoSweepStore

    rows = []
    repo = CapturingRepository(env.repo.settings, [])
    store = DynamoSweepStore(repo)
    now = utcnow()
    for grants_per_txn in (1, 5, 10, 25, 45):
        reps = max(3, 90 // grants_per_txn) if not config.QUICK else 2
        grants = _due_grants(f"acct_txn_{grants_per_txn}", grants_per_txn * (reps + 1))
        seed(env.raw, grants, ref=False)
        batches = []
        for r in range(reps + 1):
            chunk = grants[r * grants_per_txn:(r + 1) * grants_per_txn]
            store.save_expired_batch([(u, g.version, e) for g in chunk for u, e in [expire_grant(g, now)]])
            batches += repo.take()
        env.floor.transact_write_items(TransactItems=batches[0])  # warm
        times = [timed(lambda b=b: env.floor.transact_write_items(TransactItems=b)) for b in batches[1:]]
        p = percentiles(times)
        rows.append({"grants": grants_per_txn, "items": 2 * grants_per_txn, "p50": p["p50"],
                     "per_grant": p["p50"] / grants_per_txn})
        log(f"  TransactWriteItems of {2 * grants_per_txn:3d} items: p50 {p['p50']:7.1f} ms = "
            f"{p['p50'] / grants_per_txn:5.1f} ms per grant")
    return rows
