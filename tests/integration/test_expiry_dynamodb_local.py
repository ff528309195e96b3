"""The expiry sweep on DynamoDB Local: 1,000 grants, 300 past expiry, two sweeps at once."""

from __future__ import annotations

import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from decimal import Decimal

import boto3
from credits import container
from credits.container import expiry_service
from credits.domain.clock import utcnow
from credits.domain.grant_rules import build_grant, granted_entry
from credits.events.from_stream import events_from_stream_record
from credits.models.api import CreateGrantRequest
from credits.models.events import EXPIRED, EXPIRING_SOON
from credits.services.expiry import ExpiryService
from credits.store import items as mapping
from credits.store import keys
from credits.store.client import from_wire, to_wire
from credits.store.sweeps import DynamoSweepStore

from local.dynamodb import client_kwargs

CUSTOMERS = [f"cus_{i:02d}" for i in range(20)]


def _grant_items(n: int, *, days_ago: int, expires_in: timedelta | None, amount: str = "10.00") -> list[dict]:
    """The items GrantService.create writes for a grant created `days_ago` days back (so its
    expiry may already have passed now): grant, id reference, GRANTED entry."""
    now = utcnow()
    created = now - timedelta(days=days_ago)
    body = {"customerId": CUSTOMERS[n % len(CUSTOMERS)], "name": f"grant {n}", "type": "CASH", "amount": amount,
            "currency": "USD"}
    if expires_in is not None:
        body["expiresAt"] = (now + expires_in).strftime("%Y-%m-%dT%H:%M:%SZ")
    grant = build_grant("acct_a", CreateGrantRequest.model_validate(body), created)
    return [mapping.grant_to_item(grant, notice_lead=timedelta(days=7)),
            {**keys.grant_ref_key("acct_a", grant.id), "entity": "GRANT_REF", "customerId": grant.customer_id},
            mapping.entry_to_item(granted_entry(grant, created))]


def _populate(table, specs) -> list[str]:
    """Batch-written (25 items a call, 8 threads): seeding is not what is measured."""
    grants = [_grant_items(n, **spec) for n, spec in enumerate(specs)]
    items = [item for group in grants for item in group]
    chunks = [items[i:i + 25] for i in range(0, len(items), 25)]

    def write(chunk):
        request = {table.name: [{"PutRequest": {"Item": to_wire(i)}} for i in chunk]}
        while request:
            request = table.client.batch_write_item(RequestItems=request).get("UnprocessedItems") or None

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(write, chunks))
    return [group[0]["id"] for group in grants]


def _customer_items(table, customer: str) -> list[dict]:
    client, items, kwargs = table.client, [], {
        "TableName": table.name, "ConsistentRead": True, "KeyConditionExpression": "PK = :pk",
        "ExpressionAttributeValues": to_wire({":pk": keys.customer_pk("acct_a", customer)})}
    while True:
        response = client.query(**kwargs)
        items += [from_wire(i) for i in response["Items"]]
        if "LastEvaluatedKey" not in response:
            return items
        kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]


def _stream_events(table) -> list:
    """Every event the table's stream would publish so far (DynamoDB Local streams)."""
    streams = boto3.client("dynamodbstreams", **client_kwargs(table.endpoint_url))
    arn = table.client.describe_table(TableName=table.name)["Table"]["LatestStreamArn"]
    out = []
    for shard in streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
        iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard["ShardId"],
                                              ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        while iterator:
            response = streams.get_records(ShardIterator=iterator, Limit=1000)
            for record in response["Records"]:
                raw = {"eventName": record["eventName"], "dynamodb": dict(record["dynamodb"])}
                out += events_from_stream_record(raw)
            if not response["Records"]:
                break
            iterator = response.get("NextShardIterator")
    return out


def test_thousand_grants_two_concurrent_sweeps(table):
    specs = ([{"days_ago": 40, "expires_in": -timedelta(hours=1 + i % 48)} for i in range(300)]  # past expiry
             + [{"days_ago": 1, "expires_in": timedelta(days=3, minutes=i)} for i in range(100)]  # expiring soon
             + [{"days_ago": 1, "expires_in": timedelta(days=60)} for _ in range(400)]
             + [{"days_ago": 1, "expires_in": None} for _ in range(200)])
    ids = _populate(table, specs)
    past, soon = set(ids[:300]), set(ids[300:400])

    results, barrier = [], threading.Barrier(2)

    def sweep():
        barrier.wait()
        results.append(expiry_service().run())

    started = time.monotonic()
    threads = [threading.Thread(target=sweep) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    print(f"\n2 concurrent sweeps over 1,000 grants: {elapsed:.2f}s, {300 / elapsed:.0f} expiries/s "
          f"({[r.model_dump() for r in results]})")

    assert sum(r.expired for r in results) == 300
    assert sum(r.notices for r in results) == 100
    assert not any(r.more_remaining for r in results)

    grants, entries, notices = {}, [], []
    for customer in CUSTOMERS:
        for item in _customer_items(table, customer):
            if item["entity"] == "GRANT":
                grants[item["id"]] = item
            elif item["entity"] == "LEDGER":
                entries.append(item)
    expired_entries = [e for e in entries if e["entryType"] == "EXPIRED"]
    assert len(expired_entries) == 300 and {e["grantId"] for e in expired_entries} == past
    # The ledger invariant, grant by grant: original - expired = currentBalance.
    moved = Counter()
    for e in entries:
        sign = {"GRANTED": 1, "EXPIRED": -1}[e["entryType"]]
        moved[e["grantId"]] += sign * Decimal(e["amount"])
    for grant_id, item in grants.items():
        assert moved[grant_id] == Decimal(item["currentBalance"]), grant_id
        if grant_id in past:
            assert Decimal(item["currentBalance"]) == 0 and "expiredAt" in item and "GSI2PK" not in item
        else:
            assert Decimal(item["currentBalance"]) == Decimal("10.00") and "expiredAt" not in item
        assert bool(item.get("expiringNoticeSent")) == (grant_id in soon)

    # Notices: one item per expiring-soon grant; the stream publishes each event exactly once.
    for grant_id in soon:
        response = table.client.query(TableName=table.name, KeyConditionExpression="PK = :pk AND begins_with(SK, :n)",
                                      ExpressionAttributeValues=to_wire({":pk": f"ACCT#acct_a#GRANT#{grant_id}",
                                                                         ":n": "NOTICE#"}))
        notices += response["Items"]
    assert len(notices) == 100
    published = _stream_events(table)
    assert Counter(e.grantId for e in published if e.type == EXPIRED) == Counter({g: 1 for g in past})
    assert Counter(e.grantId for e in published if e.type == EXPIRING_SOON) == Counter({g: 1 for g in soon})

    again = expiry_service().run()
    assert (again.expired, again.notices) == (0, 0)


def test_tiny_deadline_stops_and_next_run_continues(table):
    ids = set(_populate(table, [{"days_ago": 40, "expires_in": -timedelta(hours=1)} for _ in range(120)]))
    service = ExpiryService(DynamoSweepStore(container.repository()), lead=timedelta(days=7), reserve_ms=0,
                            page_size=25)
    checks: list[int] = []

    def remaining_ms() -> int:
        # A clock that runs out after the sweep's second look at it: deterministic, not a timing.
        checks.append(1)
        return 60_000 if len(checks) <= 2 else 0

    first = service.run(remaining_ms=remaining_ms)
    assert first.more_remaining and 0 < first.expired < 120
    second = service.run(remaining_ms=lambda: 60_000)
    assert not second.more_remaining and first.expired + second.expired == 120

    expired = [e for c in CUSTOMERS for e in _customer_items(table, c)
               if e["entity"] == "LEDGER" and e["entryType"] == "EXPIRED"]
    assert sorted(e["grantId"] for e in expired) == sorted(ids)


def test_an_expiry_that_empties_a_balance_publishes_balance_depleted_once(table):
    """cus_00 holds only expiring grants: the sweep empties its USD balance, one notice (and so one
    balance_depleted event) says so, and a re-run says nothing more. cus_01 still has a grant
    without expiry: nothing to say. (Two sweeps at once that each expire one of cus_00's grants
    may each announce it: the event is about the balance, not one write.)"""
    from credits.models.events import BALANCE_DEPLETED

    specs = [{"days_ago": 40, "expires_in": -timedelta(hours=1)}] * 2  # cus_00, cus_01: past expiry
    specs += [{"days_ago": 40, "expires_in": None}]  # cus_02: never expires
    specs += [{"days_ago": 40, "expires_in": -timedelta(hours=2)}] * (len(CUSTOMERS) - 3)
    specs += [{"days_ago": 40, "expires_in": -timedelta(hours=1)}]  # cus_00 again (index 20)
    specs += [{"days_ago": 40, "expires_in": None}]  # cus_01: a grant that stays usable (index 21)
    _populate(table, specs)
    first = expiry_service().run()
    again = expiry_service().run()
    assert (first.expired, again.expired) == (20, 0)
    assert (first.depleted, again.depleted) == (len(CUSTOMERS) - 2, 0)

    def depletions(customer: str) -> list:
        notices = [i for i in _customer_items(table, customer) if i.get("kind") == "BALANCE_DEPLETED"]
        return [e for n in notices for e in events_from_stream_record(
            {"eventName": "INSERT", "dynamodb": {"NewImage": to_wire(n)}})]

    (event,) = depletions("cus_00")
    assert event.type == BALANCE_DEPLETED and event.customerId == "cus_00" and event.grantId is None
    assert (event.data.type, event.data.currency, event.data.metricId) == ("CASH", "USD", None)
    assert depletions("cus_01") == [] and depletions("cus_02") == []
    assert len(depletions("cus_05")) == 1
