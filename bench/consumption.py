"""Real-time consumption figures on DynamoDB Local, ratios in one run (`python -m bench.consumption`):
consumption p50 against its floor (the raw calls it needs: one LSI1 page, one transaction of the
consumption, the grant, its entry and the aggregate, one BatchGetItem of the aggregate) with 1
and with 1,000 grants on the customer; the entitlement check against one GetItem; one customer
with 32 concurrent clients against 32 clients looping a conditional UpdateItem on one item; write
units per consumption (ReturnConsumedCapacity); a batch of 100 against 100 single calls."""

from __future__ import annotations

import os
import statistics
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

from bench.harness import ROOT  # noqa: F401 - puts the layer on sys.path


def _p50(action, n: int) -> float:
    samples = []
    for i in range(n):
        started = time.perf_counter()
        action(i)
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def main() -> None:
    import boto3

    from local.dynamodb import client_kwargs, start_dynamodb
    from local.template import create_table

    ddb = start_dynamodb(0)
    try:
        url = ddb.endpoint_url
        client = boto3.client("dynamodb", **client_kwargs(url))
        name = f"credits-bench-{uuid.uuid4().hex[:8]}"
        create_table(client, name)
        os.environ.update({"TABLE_NAME": name, "DYNAMODB_ENDPOINT_URL": url, "AWS_DEFAULT_REGION": "us-east-1",
                           "AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local",
                           "CURSOR_SECRET": "bench-consumption-cursor-secret"})
        from credits.container import repository, reset

        reset()
        run(client, name, repository())
    finally:
        ddb.stop()


def run(client, table: str, repo) -> None:
    from credits.domain.clock import to_iso, utcnow
    from credits.domain.grant_rules import build_grant, granted_entry
    from credits.models.api import CreateGrantRequest
    from credits.models.consumptions import ConsumeRequest
    from credits.services.consumptions import ConsumptionService
    from credits.store import keys

    service = ConsumptionService(repo, attempts=500)
    account = "acct_bench"

    def grants_for(customer: str, count: int) -> None:
        # Many small grants: the first ones in burn-down order are the ones each consumption draws on.
        for i in range(count):
            body = CreateGrantRequest(customerId=customer, name=f"g{i}", type="USAGE", amount="1000000",
                                      metricId="api_calls", priority=min(i, 100))
            grant = build_grant(account, body, utcnow())
            repo.create_grant(grant, granted_entry(grant, grant.created_at))

    def consume(customer: str, i: int, quantity: str = "1") -> None:
        service.consume(account, ConsumeRequest(eventId=f"{customer}-{i}-{uuid.uuid4().hex[:6]}", customerId=customer,
                                                metricId="api_calls", quantity=quantity))

    n = int(os.environ.get("BENCH_SAMPLES", "60"))
    grants_for("cus_one", 1)
    grants_for("cus_many", 1000)
    for i in range(5):
        consume("cus_one", -i)
        consume("cus_many", -i)
    [first] = repo.customer_grants(account, "cus_one")
    pk = keys.customer_pk(account, "cus_one")

    def floor(i: int) -> None:
        # What a consumption needs at the least, as raw calls.
        client.query(TableName=table, IndexName="LSI1", ConsistentRead=True, Limit=16,
                     KeyConditionExpression="PK = :pk AND begins_with(LSI1SK, :s)",
                     ExpressionAttributeValues={":pk": {"S": pk}, ":s": {"S": keys.burn_scope("USAGE", "api_calls")}})
        event = f"floor-{i}-{uuid.uuid4().hex}"
        client.transact_write_items(TransactItems=[
            {"Put": {"TableName": table, "Item": {"PK": {"S": f"ACCT#{account}#CONSUMPTION#{event}"},
                                                  "SK": {"S": "CONSUMPTION"}, "body": {"S": "x" * 600}},
                     "ConditionExpression": "attribute_not_exists(PK)"}},
            {"Update": {"TableName": table, "Key": {"PK": {"S": pk}, "SK": {"S": f"FLOOR#{first.id}"}},
                        "UpdateExpression": "ADD v :one SET #pad = :pad", "ExpressionAttributeNames": {"#pad": "pad"},
                        "ExpressionAttributeValues": {":one": {"N": "1"}, ":pad": {"S": "x" * 1200}}}},
            {"Put": {"TableName": table, "Item": {"PK": {"S": pk}, "SK": {"S": f"TXN#floor{event}"},
                                                  "body": {"S": "x" * 600}}}},
            {"Update": {"TableName": table, "Key": {"PK": {"S": pk}, "SK": {"S": "FLOOR#AGG"}},
                        "UpdateExpression": "ADD a :one", "ExpressionAttributeValues": {":one": {"N": "1"}}}}])
        client.batch_get_item(RequestItems={table: {"Keys": [{"PK": {"S": pk}, "SK": {"S": "FLOOR#AGG"}}],
                                                    "ConsistentRead": True}})

    rows = []
    p_floor = _p50(floor, n)
    p_one = _p50(lambda i: consume("cus_one", i), n)
    p_many = _p50(lambda i: consume("cus_many", i), n)
    rows.append(("consumption, 1 grant", p_one, p_floor))
    rows.append(("consumption, 1,000 grants", p_many, p_one))
    get_key = {"PK": {"S": pk}, "SK": {"S": keys.balance_sk("USAGE", "api_calls")}}
    p_get = _p50(lambda i: client.get_item(TableName=table, Key=get_key, ConsistentRead=True), n)
    p_ent_one = _p50(lambda i: service.entitlement(account, "cus_one", "api_calls"), n)
    p_ent_many = _p50(lambda i: service.entitlement(account, "cus_many", "api_calls"), n)
    rows.append(("entitlement, 1 grant", p_ent_one, p_get))
    rows.append(("entitlement, 1,000 grants", p_ent_many, p_ent_one))

    # One customer, 32 concurrent clients.
    grants_for("cus_hot", 1)
    per_client = max(5, n // 4)
    started = time.perf_counter()
    with ThreadPoolExecutor(32) as pool:
        list(pool.map(lambda c: [consume("cus_hot", c * 1000 + j) for j in range(per_client)], range(32)))
    hot_rate = 32 * per_client / (time.perf_counter() - started)
    client.put_item(TableName=table, Item={"PK": {"S": "HOT"}, "SK": {"S": "ITEM"}, "v": {"N": "0"}})

    def update_loop(c: int) -> None:
        for _ in range(per_client):
            while True:
                current = int(client.get_item(TableName=table, Key={"PK": {"S": "HOT"}, "SK": {"S": "ITEM"}},
                                              ConsistentRead=True)["Item"]["v"]["N"])
                try:
                    client.update_item(TableName=table, Key={"PK": {"S": "HOT"}, "SK": {"S": "ITEM"}},
                                       UpdateExpression="SET v = :n", ConditionExpression="v = :c",
                                       ExpressionAttributeValues={":n": {"N": str(current + 1)}, ":c": {"N": str(current)}})
                    break
                except client.exceptions.ConditionalCheckFailedException:
                    continue

    started = time.perf_counter()
    with ThreadPoolExecutor(32) as pool:
        list(pool.map(update_loop, range(32)))
    floor_rate = 32 * per_client / (time.perf_counter() - started)

    # Write units of one consumption (ReturnConsumedCapacity on its transaction).
    units = []

    def metered(params, model, **_):
        if model.name == "TransactWriteItems":
            params["ReturnConsumedCapacity"] = "TOTAL"

    def after(parsed, model, **_):
        if model.name == "TransactWriteItems":
            units.append(sum(c.get("CapacityUnits", 0) for c in parsed.get("ConsumedCapacity", [])))

    repo.client.meta.events.register("before-parameter-build.dynamodb", metered)
    repo.client.meta.events.register("after-call.dynamodb", after)
    for i in range(5):
        consume("cus_one", 10_000 + i)
    wcu = statistics.median(units)

    # A batch of 100 against 100 single calls.
    bodies = [{"eventId": f"batch-{uuid.uuid4().hex}", "customerId": "cus_one", "metricId": "api_calls", "quantity": "1"}
              for _ in range(100)]
    started = time.perf_counter()
    service.consume_many(account, bodies)
    batch = (time.perf_counter() - started) / 100
    single = p_one

    print(f"as of {to_iso(utcnow())}, DynamoDB Local, {n} samples")
    for label, value, against in rows:
        print(f"  {label:28s} p50 {value * 1000:7.2f} ms   ratio {value / against:5.2f}x")
    print(f"  one customer, 32 clients: {hot_rate:7.1f} consumptions/s; floor (conditional UpdateItem loop, 32 "
          f"clients, one item) {floor_rate:7.1f}/s; ratio {hot_rate / floor_rate:4.2f}")
    print(f"  write units per consumption (1 grant): {wcu:.1f} WCU -> one balance on AWS (~1,000 WCU/s per item, "
          f"the aggregate written twice per transaction): <= ~{1000 / 2:.0f}/s per aggregate item, "
          f"~{1000 / wcu:.0f}/s per partition before adaptive splitting")
    print(f"  batch of 100: {batch * 1000:.2f} ms per consumption vs single {single * 1000:.2f} ms "
          f"(ratio {batch / single:.2f})")


if __name__ == "__main__":
    main()
