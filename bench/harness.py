"""The bench's plumbing: DynamoDB Local and the table, the functions' environment and handlers,
a botocore meter (calls and consumed capacity per operation), API Gateway events, seeding, and a
capturing repository that yields the exact writes of an operation without sending them (floors)."""

from __future__ import annotations

import json
import os
import sys
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
for _path in (str(ROOT), str(ROOT / "layers" / "credits")):
    if _path not in sys.path:
        sys.path.insert(0, _path)

TABLE = "credits-bench"
NOTICE_LEAD = timedelta(days=7)


# ====================================================================== meter


class Meter:
    """Counts DynamoDB calls per operation name (after-call) and sums ConsumedCapacity; while
    `inject` is on, a before-parameter-build handler asks for ReturnConsumedCapacity=TOTAL on
    every operation that accepts it. No service code is changed: it hooks the client's events."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.calls: Counter[str] = Counter()
        self.capacity: defaultdict[str, float] = defaultdict(float)
        self.inject = False
        self.call_seconds = 0.0  # before-call -> after-call: signing, HTTP round trip, parsing

    def attach(self, client: Any) -> Any:
        client.meta.events.register("before-parameter-build.dynamodb", self._before)
        client.meta.events.register("before-call.dynamodb", self._start)
        client.meta.events.register("after-call.dynamodb", self._after)
        return client

    def _before(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        if self.inject and "ReturnConsumedCapacity" in model.input_shape.members:
            params.setdefault("ReturnConsumedCapacity", "TOTAL")

    @staticmethod
    def _start(context: dict[str, Any], **_: Any) -> None:
        context["bench_started"] = time.perf_counter()

    def _after(self, parsed: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        took = time.perf_counter() - context.get("bench_started", time.perf_counter())
        consumed = parsed.get("ConsumedCapacity") if isinstance(parsed, dict) else None
        units = 0.0
        for entry in consumed if isinstance(consumed, list) else [consumed] if consumed else []:
            units += float(entry.get("CapacityUnits") or 0)
        with self.lock:
            self.calls[model.name] += 1
            self.call_seconds += took
            self.capacity[model.name] += units

    def reset(self) -> None:
        with self.lock:
            self.calls.clear()
            self.capacity.clear()
            self.call_seconds = 0.0

    def snapshot(self) -> tuple[dict[str, int], dict[str, float]]:
        with self.lock:
            return dict(self.calls), dict(self.capacity)


# ====================================================================== environment


class Env:
    """One DynamoDB Local, one table (from template.yaml), the functions' environment applied to
    this process, their handlers loaded as the local stack loads them, and the meter attached to
    the service's client."""

    def __init__(self) -> None:
        from local.dynamodb import client_kwargs, start_dynamodb
        from local.lambdas import FunctionRuntime, add_layers_to_path, local_environment
        from local.template import create_table, functions, load_template

        started = time.monotonic()
        self.dynamodb = start_dynamodb(0)
        self.endpoint = self.dynamodb.endpoint_url
        template = load_template()
        add_layers_to_path(template)
        specs = functions(template)
        self.environment = local_environment(template, specs, table_name=TABLE, dynamodb_url=self.endpoint,
                                             events_url="http://127.0.0.1:9")  # nothing publishes in-process
        self.environment.update({"POWERTOOLS_LOG_LEVEL": "WARNING", "LOG_LEVEL": "WARNING",
                                 "POWERTOOLS_METRICS_DISABLED": "true", "POWERTOOLS_TRACE_DISABLED": "true",
                                 "POWERTOOLS_IDEMPOTENCY_DISABLED": "false"})
        os.environ.update(self.environment)
        for key in ("AWS_SESSION_TOKEN", "AWS_PROFILE"):
            os.environ.pop(key, None)
        import logging

        logging.getLogger().setLevel(logging.WARNING)
        import boto3

        self.raw = boto3.client("dynamodb", **client_kwargs(self.endpoint))  # seeding, checks
        create_table(self.raw, TABLE)
        from credits import container

        container.reset()
        self.meter = Meter()
        self.repo = container.repository()
        self.meter.attach(self.repo.client)
        self.runtime = FunctionRuntime(specs)
        self.specs = specs
        # The floor client: same configuration as the service's, no hooks.
        from credits.store.client import make_client

        self.floor = make_client(self.repo.settings)
        self.startup_s = time.monotonic() - started
        logging.getLogger("credits").setLevel(logging.WARNING)

    def invoke(self, function: str, event: dict[str, Any]) -> dict[str, Any]:
        result = self.runtime.invoke(function, event)
        status = result.get("statusCode", 200) if isinstance(result, dict) else 200
        if status >= 300:
            raise RuntimeError(f"{function} answered {status}: {result.get('body')}")
        return result

    def stop(self) -> None:
        self.dynamodb.stop()


# ====================================================================== events


def api_event(method: str, path: str, *, account: str, body: Any = None, query: dict[str, str] | None = None) -> dict[str, Any]:
    """An API Gateway REST proxy event as the authorizer leaves it (account in the context)."""
    return {
        "httpMethod": method, "path": path, "resource": path,
        "body": json.dumps(body) if body is not None else None, "isBase64Encoded": False,
        "headers": {"Content-Type": "application/json"}, "multiValueHeaders": {}, "pathParameters": None,
        "queryStringParameters": dict(query) if query else None,
        "multiValueQueryStringParameters": {k: [v] for k, v in query.items()} if query else None,
        "requestContext": {"requestId": uuid.uuid4().hex, "stage": "prod", "httpMethod": method, "path": path,
                           "resourcePath": path, "authorizer": {"accountId": account}},
    }


def body_of(result: dict[str, Any]) -> Any:
    return json.loads(result["body"]) if result.get("body") else None


# ====================================================================== seeding


def make_grant(account: str, customer: str, *, amount: str = "10.00", priority: int = 50,
               expires_at: datetime | None = None, created: datetime | None = None, n: int = 0):
    from credits.domain.clock import utcnow
    from credits.domain.grant_rules import build_grant
    from credits.models.api import CreateGrantRequest

    body: dict[str, Any] = {"customerId": customer, "name": f"bench grant {n}", "type": "CASH", "amount": amount,
                            "currency": "USD", "priority": priority}
    if expires_at is not None:
        body["expiresAt"] = expires_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    now = created or (utcnow() - timedelta(days=30))
    return build_grant(account, CreateGrantRequest.model_validate(body), now, allow_past_expiry=True)


def grant_items(grant: Any, *, ref: bool = True, entry: bool = False) -> list[dict[str, Any]]:
    from credits.domain.grant_rules import granted_entry
    from credits.store import items as mapping
    from credits.store import keys

    out = [mapping.grant_to_item(grant, notice_lead=NOTICE_LEAD)]
    if ref:
        out.append({**keys.grant_ref_key(grant.account_id, grant.id), "entity": "GRANT_REF",
                    "customerId": grant.customer_id})
    if entry:
        out.append(mapping.entry_to_item(granted_entry(grant, grant.created_at)))
    return out


def batch_write(client: Any, items: list[dict[str, Any]], threads: int = 4) -> float:
    """BatchWriteItem, 25 items a call, a few threads; returns the seconds taken (seeding is
    never what is measured)."""
    from credits.store.client import to_wire

    started = time.monotonic()
    chunks = [items[i:i + 25] for i in range(0, len(items), 25)]

    def write(chunk: list[dict[str, Any]]) -> None:
        request: dict[str, Any] | None = {TABLE: [{"PutRequest": {"Item": to_wire(i)}} for i in chunk]}
        while request:
            request = client.batch_write_item(RequestItems=request).get("UnprocessedItems") or None

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(write, chunks))
    return time.monotonic() - started


def seed(client: Any, grants: Iterable[Any], *, ref: bool = True, entry: bool = False) -> float:
    grants = list(grants)
    started = time.monotonic()
    batch_write(client, [i for g in grants for i in grant_items(g, ref=ref, entry=entry)])
    seed_counters(client, grants)
    return time.monotonic() - started


def seed_counters(client: Any, grants: list[Any]) -> None:
    """The grant counters (totalResultSize) that the service's create transactions keep, for
    grants seeded directly."""
    from collections import Counter

    from credits.store import keys
    from credits.store.client import to_wire

    counts: Counter = Counter()
    for g in grants:
        kind = keys.grant_kind_counter(g.type, g.currency, g.metric_id)
        key = keys.account_count_key(g.account_id, keys.count_shard_of(g.id))
        counts[(key["PK"], key["SK"], kind)] += 1
    for (pk, sk, kind), n in counts.items():
        client.update_item(TableName=TABLE, Key=to_wire({"PK": pk, "SK": sk}), UpdateExpression="ADD #total :n, #kind :n",
                           ExpressionAttributeNames={"#total": "total", "#kind": kind},
                           ExpressionAttributeValues=to_wire({":n": n}))


# ====================================================================== timing


def timed(action: Callable[[], Any]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def percentiles(samples: list[float]) -> dict[str, float]:
    """p50/p95/p99 in milliseconds."""
    values = np.array(samples) * 1000
    return {"n": len(samples), "p50": float(np.percentile(values, 50)), "p95": float(np.percentile(values, 95)),
            "p99": float(np.percentile(values, 99)), "mean": float(values.mean())}


# ====================================================================== floors: capture, then replay raw


class CapturingRepository:
    """A DynamoRepository whose reads are answered from memory and whose transactions are
    captured instead of sent: running a use case over it yields the exact TransactWriteItems
    requests the service would send, to be replayed with a bare client (the floor)."""

    def __new__(cls, settings: Any, grants: Iterable[Any]):
        from credits.store.dynamo import DynamoRepository

        class _Capturing(DynamoRepository):
            def __init__(self) -> None:
                super().__init__(settings, client=object())
                self.grants = {g.id: g for g in grants}
                self.apps: dict[str, Any] = {}
                self.captured: list[list[dict[str, Any]]] = []

            def transact(self, operations: list[dict[str, Any]]) -> None:  # noqa: D401 - captured, not sent
                # As sent: with the balance aggregates' updates merged in.
                self.captured.append(self._with_aggregates(operations))

            def get_grant(self, account_id: str, grant_id: str):
                return self.grants.get(grant_id)

            def customer_grants(self, account_id: str, customer_id: str):
                return [g for g in self.grants.values() if g.customer_id == customer_id]

            def burn_candidates(self, account_id: str, customer_id: str, grant_type: str, scope: str):
                from credits.services.balances import spendable_in_burn_order

                return iter(spendable_in_burn_order(self.customer_grants(account_id, customer_id), grant_type, scope))

            def get_application(self, account_id: str, invoice_id: str):
                return self.apps.get(invoice_id)

            def create_grant(self, grant, entry, *, request_key=None, notices=()) -> None:
                super().create_grant(grant, entry, request_key=request_key, notices=notices)
                self.grants[grant.id] = grant

            def save_grant(self, grant, expected_version, entries=(), extra=(), *, notices=()) -> None:
                super().save_grant(grant, expected_version, entries, extra, notices=notices)
                self.grants[grant.id] = grant

            def commit_application(self, app, expected_version, grants, entries) -> None:
                grants = list(grants)
                super().commit_application(app, expected_version, grants, entries)
                self.apps[app.invoice_id] = app
                for grant, _ in grants:
                    self.grants[grant.id] = grant

            def take(self) -> list[list[dict[str, Any]]]:
                out, self.captured = self.captured, []
                return out

        return _Capturing()


def query_all(client: Any, kwargs: dict[str, Any]) -> int:
    """A raw paginated Query; returns the number of items."""
    count = 0
    while True:
        response = client.query(**kwargs)
        count += len(response.get("Items", []))
        if "LastEvaluatedKey" not in response:
            return count
        kwargs = {**kwargs, "ExclusiveStartKey": response["LastEvaluatedKey"]}


def customer_grants_query(account: str, customer: str) -> dict[str, Any]:
    from credits.store import keys
    from credits.store.client import to_wire

    return {"TableName": TABLE, "KeyConditionExpression": "PK = :pk AND begins_with(SK, :sk)", "ConsistentRead": True,
            "ExpressionAttributeValues": to_wire({":pk": keys.customer_pk(account, customer), ":sk": keys.GRANT_SK_PREFIX})}


def burn_index_query(account: str, customer: str, currency: str, limit: int) -> dict[str, Any]:
    """One page of a customer's spendable CASH grants in burn-down order (LSI1): what apply reads."""
    from credits.store import keys
    from credits.store.client import to_wire

    return {"TableName": TABLE, "IndexName": "LSI1", "ConsistentRead": True, "Limit": limit,
            "KeyConditionExpression": "PK = :pk AND begins_with(LSI1SK, :scope)",
            "ExpressionAttributeValues": to_wire({":pk": keys.customer_pk(account, customer),
                                                  ":scope": keys.burn_scope("CASH", currency)})}


def get_key(key: dict[str, str]) -> dict[str, Any]:
    from credits.store.client import to_wire

    return {"TableName": TABLE, "Key": to_wire(key), "ConsistentRead": True}


def shard_queries(account: str, *, per_shard: int) -> list[dict[str, Any]]:
    """The raw Queries of an account-wide grant list page: one per GSI1 shard, newest first."""
    from credits.store import keys

    return [{"TableName": TABLE, "IndexName": "GSI1", "ScanIndexForward": False, "Limit": per_shard,
             "KeyConditionExpression": "GSI1PK = :pk", "ExpressionAttributeValues": {":pk": {"S": pk}}}
            for pk in keys.account_grants_gsi1pks(account)]


_SHARD_POOL = ThreadPoolExecutor(max_workers=16)


def run_all(client: Any, queries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The shards' Queries at once, as the service sends them (store/sharded.py)."""
    return list(_SHARD_POOL.map(lambda kwargs: client.query(**kwargs), queries))
