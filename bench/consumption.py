"""Real-time consumption figures (issue 20), ratios within one run on the bench's DynamoDB Local.

Part of `python -m bench` (results["consumption"]); `python -m bench.consumption` (`make
bench-consumption`) runs this part alone and writes its section and target rows into
BENCHMARKS.md, leaving the other figures as they are.

- consumption p50 through ConsumeFunction (API Gateway event, the handler, the use case) against
  its floor: the raw calls it needs (one LSI1 page of the burn-down order, one TransactWriteItems
  of the consumption, the grant, its entry and the aggregate, one BatchGetItem of the aggregate
  for the balances after), with 1 and with 1,000 grants on the customer;
- the entitlement check through ListFunction against one GetItem, with 1 and with 1,000 grants;
- one customer with 32 concurrent clients (ConsumptionService, as the contention figures call
  ApplicationService: the resolver holds one event per instance) against 32 clients looping a
  conditional UpdateItem on one item;
- write units per consumption (ReturnConsumedCapacity=INDEXES on its transaction), each item's
  size, and the ceilings on AWS they imply;
- a batch of 100 through POST /credit-consumptions/batch against 100 single POSTs.

Samples of the things compared alternate (A, B, A, B, ...), so the machine's load moves both."""

from __future__ import annotations

import os
import statistics
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from bench.harness import ROOT  # noqa: F401 - puts the layer on sys.path

ACCOUNT = "acct_consume_bench"
MANY = 1000
CLIENTS = 32


def _interleaved(actions: dict[str, Callable[[int], Any]], n: int) -> dict[str, dict[str, float]]:
    """p50 / p95 in ms of each action, sampled in turn (the order rotates every round)."""
    samples: dict[str, list[float]] = {k: [] for k in actions}
    names = list(actions)
    for i in range(n):
        for name in names[i % len(names):] + names[:i % len(names)]:
            started = time.perf_counter()
            actions[name](i)
            samples[name].append((time.perf_counter() - started) * 1000)
    out = {}
    for name, values in samples.items():
        values.sort()
        out[name] = {"p50": statistics.median(values), "p95": values[min(len(values) - 1, int(len(values) * 0.95))],
                     "n": len(values)}
    return out


def _value_bytes(value: dict[str, Any]) -> int:
    (kind, inner), = value.items()
    if kind in ("S", "B"):
        return len(inner.encode() if isinstance(inner, str) else inner)
    if kind == "N":
        return len(inner.lstrip("-").replace(".", "")) // 2 + 1
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "M":
        return 3 + sum(len(k.encode()) + 1 + _value_bytes(v) for k, v in inner.items())
    if kind == "L":
        return 3 + sum(1 + _value_bytes(v) for v in inner)
    return sum(len(str(x)) for x in inner)  # sets


def item_bytes(item: dict[str, Any]) -> int:
    """DynamoDB's size of an item (attribute names + values, as its docs count them)."""
    return sum(len(name.encode()) + _value_bytes(value) for name, value in item.items())


def consumption(env, log) -> dict[str, Any]:
    from credits.domain.clock import utcnow
    from credits.domain.grant_rules import build_grant, granted_entry
    from credits.models.api import CreateGrantRequest
    from credits.models.consumptions import ConsumeRequest
    from credits.services.consumptions import FIRST_PAGE, ConsumptionService
    from credits.store import keys
    from credits.store.client import from_wire

    from bench import config
    from bench.harness import TABLE, api_event, body_of

    repo, floor_client = env.repo, env.floor
    n = config.SAMPLES if not config.QUICK else 10
    results: dict[str, Any] = {"samples": n, "many": MANY, "clients": CLIENTS, "first_page": FIRST_PAGE}

    def grants_for(customer: str, count: int, amount: str = "100000000") -> None:
        # Priorities rise with the index: the first grant in burn-down order is the one each
        # consumption draws on; the other count-1 are never reached.
        for i in range(count):
            body = CreateGrantRequest(customerId=customer, name=f"g{i}", type="USAGE", amount=amount,
                                      metricId="api_calls", priority=min(i, 100))
            grant = build_grant(ACCOUNT, body, utcnow())
            repo.create_grant(grant, granted_entry(grant, grant.created_at))

    def post(customer: str, quantity: str = "1") -> dict[str, Any]:
        return env.invoke("ConsumeFunction", api_event("POST", "/credit-consumptions", account=ACCOUNT, body={
            "eventId": f"use_{uuid.uuid4().hex}", "customerId": customer, "metricId": "api_calls",
            "quantity": quantity}))

    def entitlement(customer: str) -> dict[str, Any]:
        path = f"/customers/{customer}/entitlements/api_calls"
        event = api_event("GET", path, account=ACCOUNT)
        event["resource"] = "/customers/{customerId}/entitlements/{metricId}"
        event["pathParameters"] = {"customerId": customer, "metricId": "api_calls"}
        return env.invoke("ListFunction", event)

    log(f"  consumption: seeding 1 and {MANY:,} grants")
    grants_for("cus_c1", 1)
    grants_for("cus_c1000", MANY)
    for _ in range(config.WARMUP):
        post("cus_c1")
        post("cus_c1000")
        entitlement("cus_c1")
    assert body_of(entitlement("cus_c1000"))["hasAccess"] is True
    pk = keys.customer_pk(ACCOUNT, "cus_c1")

    # The floor: the exact calls of a consumption, replayed raw. Capture one consumption's
    # transaction (its items and sizes) from the service's own client.
    captured: list[dict[str, Any]] = []

    def capture(params, model, **_):
        if model.name == "TransactWriteItems":
            captured.append(params)
            params["ReturnConsumedCapacity"] = "INDEXES"

    consumed: list[Any] = []

    def after(parsed, model, **_):
        if model.name == "TransactWriteItems":
            consumed.append(parsed.get("ConsumedCapacity") or [])

    repo.client.meta.events.register("before-parameter-build.dynamodb", capture)
    repo.client.meta.events.register("after-call.dynamodb", after)
    env.meter.reset()
    try:
        post("cus_c1")
    finally:
        repo.client.meta.events.unregister("before-parameter-build.dynamodb", capture)
        repo.client.meta.events.unregister("after-call.dynamodb", after)
    calls, _ = env.meter.snapshot()
    results["calls"] = calls
    [transaction] = captured
    results["txn_items"] = len(transaction["TransactItems"])
    sizes = []
    for op in transaction["TransactItems"]:
        (kind, body), = op.items()
        if kind == "Put":
            item = body["Item"]
        else:  # the aggregate's Update: the item as it is after it
            item = floor_client.get_item(TableName=TABLE, Key=body["Key"], ConsistentRead=True)["Item"]
        sizes.append({"kind": kind, "entity": from_wire(item).get("entity", "?"), "bytes": item_bytes(item)})
    results["item_sizes"] = sizes
    capacity = {"table": 0.0, "lsi": 0.0, "gsi": 0.0, "total": 0.0}
    for entry in consumed[0]:
        capacity["total"] += float(entry.get("CapacityUnits") or 0)
        capacity["table"] += float((entry.get("Table") or {}).get("CapacityUnits") or 0)
        capacity["lsi"] += sum(float(v.get("CapacityUnits") or 0) for v in (entry.get("LocalSecondaryIndexes") or {}).values())
        capacity["gsi"] += sum(float(v.get("CapacityUnits") or 0) for v in (entry.get("GlobalSecondaryIndexes") or {}).values())
    results["wcu"] = capacity

    def fresh(ops: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The captured transaction moved to a partition of its own (the customer's burn-down
        index and aggregate stay untouched): the grant's Put replaces one item each time, the
        other Puts create new items (create-once condition), the aggregate's ADD as captured."""
        out = []
        suffix = uuid.uuid4().hex[:12]
        for op in ops:
            (kind, body), = op.items()
            body = {k: v for k, v in body.items() if k != "ReturnConsumedCapacity"}
            if kind == "Put":
                item = {**body["Item"], "PK": {"S": body["Item"]["PK"]["S"] + "#FLOOR"}}
                for k in ("ConditionExpression", "ExpressionAttributeValues", "ExpressionAttributeNames"):
                    body.pop(k, None)
                if item.get("entity", {}).get("S") != "GRANT":
                    item["SK"] = {"S": item["SK"]["S"] + "#" + suffix}
                    body["ConditionExpression"] = "attribute_not_exists(PK)"
                body["Item"] = item
            else:
                body["Key"] = {**body["Key"], "PK": {"S": body["Key"]["PK"]["S"] + "#FLOOR"}}
            out.append({kind: body})
        return out

    burn = {"TableName": TABLE, "IndexName": "LSI1", "ConsistentRead": True, "Limit": FIRST_PAGE,
            "KeyConditionExpression": "PK = :pk AND begins_with(LSI1SK, :s)",
            "ExpressionAttributeValues": {":pk": {"S": pk}, ":s": {"S": keys.burn_scope("USAGE", "api_calls")}}}
    aggregate_key = {"PK": {"S": pk}, "SK": {"S": keys.balance_sk("USAGE", "api_calls")}}
    member_key = {k: {"S": v} for k, v in keys.clock_member_key(ACCOUNT, "cus_c1").items()}
    aggregates_query = {"TableName": TABLE, "ConsistentRead": True, "KeyConditionExpression": "PK = :pk AND "
                        "begins_with(SK, :sk)", "ExpressionAttributeValues": {":pk": {"S": pk},
                                                                               ":sk": {"S": keys.BALANCE_SK_PREFIX}}}
    live = ConsumptionService(repo)  # a live deployment's: the real clock, no test-clock read

    def live_floor(_: int) -> None:
        floor_client.query(**burn)
        floor_client.transact_write_items(TransactItems=fresh(transaction["TransactItems"]))
        floor_client.batch_get_item(RequestItems={TABLE: {"Keys": [aggregate_key], "ConsistentRead": True}})

    def floor(i: int) -> None:
        # A test-mode stack (Livemode false, the local stack's and this bench's) reads first which
        # test clock the customer is on, if any: one GetItem in its partition.
        floor_client.get_item(TableName=TABLE, Key=member_key, ConsistentRead=True)
        live_floor(i)

    def live_consume(_: int) -> None:
        live.consume(ACCOUNT, ConsumeRequest(eventId=f"live-{uuid.uuid4().hex}", customerId="cus_c1",
                                             metricId="api_calls", quantity="1"))

    log(f"  consumption: latency, {n} interleaved samples each")
    latency = _interleaved({"floor": floor, "one": lambda i: post("cus_c1"), "many": lambda i: post("cus_c1000"),
                            "live_floor": live_floor, "live_one": live_consume}, n)
    entitle = _interleaved({
        "getitem": lambda i: floor_client.get_item(TableName=TABLE, Key=aggregate_key, ConsistentRead=True),
        "query": lambda i: floor_client.query(**aggregates_query),
        "one": lambda i: entitlement("cus_c1"), "many": lambda i: entitlement("cus_c1000"),
        "live_one": lambda i: live.entitlement(ACCOUNT, "cus_c1", "api_calls"),
        "live_many": lambda i: live.entitlement(ACCOUNT, "cus_c1000", "api_calls")}, n)
    results["latency"], results["entitlement"] = latency, entitle
    env.meter.reset()
    post("cus_c1000")
    results["calls_many"], _ = env.meter.snapshot()
    env.meter.reset()
    entitlement("cus_c1000")
    results["calls_entitlement"], _ = env.meter.snapshot()

    # One customer, 32 concurrent clients, against the floor of the same shape.
    log(f"  consumption: one customer, {CLIENTS} concurrent clients")
    grants_for("cus_hot", 1)
    service = ConsumptionService(repo, attempts=1000)
    per_client = max(2, n // 20)
    conflicts = [0]
    lock = threading.Lock()
    original = repo.commit_consumptions

    def counting_commit(*args, **kwargs):
        try:
            return original(*args, **kwargs)
        except Exception:
            with lock:
                conflicts[0] += 1
            raise

    repo.commit_consumptions = counting_commit
    try:
        def client_loop(c: int) -> None:
            for j in range(per_client):
                service.consume(ACCOUNT, ConsumeRequest(eventId=f"hot-{c}-{j}-{uuid.uuid4().hex[:6]}",
                                                        customerId="cus_hot", metricId="api_calls", quantity="1"))

        started = time.perf_counter()
        with ThreadPoolExecutor(CLIENTS) as pool:
            list(pool.map(client_loop, range(CLIENTS)))
        hot_s = time.perf_counter() - started
    finally:
        del repo.commit_consumptions
    [hot_grant] = repo.customer_grants(ACCOUNT, "cus_hot")
    hot_total = CLIENTS * per_client
    assert hot_grant.original_amount - hot_grant.current_balance == hot_total, "a consumption was lost or doubled"
    item_key = {"PK": {"S": "BENCH#HOT"}, "SK": {"S": "ITEM"}}
    floor_client.put_item(TableName=TABLE, Item={**item_key, "v": {"N": "0"}})
    floor_retries = [0]

    def update_loop(_: int) -> None:
        for _ in range(per_client):
            while True:
                current = floor_client.get_item(TableName=TABLE, Key=item_key, ConsistentRead=True)["Item"]["v"]["N"]
                try:
                    floor_client.update_item(TableName=TABLE, Key=item_key, UpdateExpression="SET v = :n",
                                             ConditionExpression="v = :c",
                                             ExpressionAttributeValues={":n": {"N": str(int(current) + 1)},
                                                                        ":c": {"N": current}})
                    break
                except floor_client.exceptions.ConditionalCheckFailedException:
                    with lock:
                        floor_retries[0] += 1

    started = time.perf_counter()
    with ThreadPoolExecutor(CLIENTS) as pool:
        list(pool.map(update_loop, range(CLIENTS)))
    floor_s = time.perf_counter() - started
    results["hot"] = {"consumptions": hot_total, "seconds": hot_s, "rate": hot_total / hot_s,
                      "conflicts": conflicts[0], "floor_seconds": floor_s, "floor_rate": hot_total / floor_s,
                      "floor_retries": floor_retries[0]}

    # A batch of 100 against 100 single calls, alternating.
    log("  consumption: batch of 100 vs 100 single calls")
    rounds = 2 if config.QUICK else 4
    batch_s, single_s = [], []
    for r in range(rounds):
        bodies = [{"eventId": f"batch-{uuid.uuid4().hex}", "customerId": "cus_c1", "metricId": "api_calls",
                   "quantity": "1"} for _ in range(100)]
        started = time.perf_counter()
        answer = body_of(env.invoke("ConsumeFunction", api_event("POST", "/credit-consumptions/batch", account=ACCOUNT,
                                                                   body={"consumptions": bodies})))
        batch_s.append(time.perf_counter() - started)
        assert [x["status"] for x in answer["results"]] == [201] * 100
        started = time.perf_counter()
        for _ in range(100):
            post("cus_c1")
        single_s.append(time.perf_counter() - started)
    results["batch"] = {"rounds": rounds, "batch_ms_each": statistics.median(batch_s) * 10,
                        "single_ms_each": statistics.median(single_s) * 10}
    return results


def main() -> None:
    """This part alone: its figures into BENCHMARKS.md (section and target rows), the others kept."""
    import json
    import subprocess
    from datetime import UTC, datetime

    from bench.__main__ import log
    from bench.harness import Env, api_event, make_grant, seed
    from bench.report import PLOTS, splice_consumption

    env = Env()
    try:
        log("warm-up")
        seed(env.raw, [make_grant("acct_warm", "cus_warm", amount="1000000.00")], ref=False)
        for i in range(60):
            env.invoke("ApplyFunction", api_event("POST", "/credit-applications", account="acct_warm", body={
                "invoiceId": f"inv_warm_{i}", "customerId": "cus_warm", "currency": "USD",
                "lines": [{"lineId": "l1", "amount": "0.01"}]}))
        load_before = subprocess.run(["uptime"], capture_output=True, text=True, check=True).stdout.strip()
        results = consumption(env, log)
        results["load"] = [load_before, subprocess.run(["uptime"], capture_output=True, text=True, check=True).stdout.strip()]
        results["started"] = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    finally:
        env.stop()
    path = PLOTS / "results.json"
    if path.exists():
        data = json.loads(path.read_text())
        data["consumption"] = results
        path.write_text(json.dumps(data, indent=1, default=str))
    print(json.dumps(results, indent=1, default=str))
    log(f"wrote {splice_consumption(results)}")


if __name__ == "__main__":
    os.environ.setdefault("BENCH_SAMPLES", "60")
    main()
