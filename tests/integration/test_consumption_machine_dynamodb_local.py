"""The consumption state machine (tests/consumption_machine.py) on DynamoDB Local: the same rules
and invariants as on the pure core, over the DynamoDB repository and watch store; the alerts
are decided as the publisher decides them, by events/balance_crossings.py from the old and new
images of each balance aggregate's stream record, and must fire exactly where the sequence of
balances in those records crosses a threshold (a top-up grant for each crossing below 1.00 while
the month allows one).

Each example is an account of its own in one table; the stream is read on from where the last
example left it. The store stamps an aggregate's `updatedAt` (the instant the publisher reads the
balance at) from the wall clock: here that clock is the machine's, which moves by days."""

from __future__ import annotations

import os
import uuid
from datetime import datetime
from decimal import Decimal

import boto3
import pytest
from credits.domain import balance_aggregates as aggregates
from credits.domain.clock import from_iso
from credits.events.balance_crossings import _images, balance_events
from credits.models.events import BALANCE_LOW, BALANCE_RECOVERED
from credits.settings import get_settings
from credits.store import dynamo
from credits.store.dynamo import DynamoRepository
from credits.store.items import item_to_buckets
from credits.store.watches_store import DynamoWatchStore
from hypothesis import HealthCheck, settings
from hypothesis.stateful import run_state_machine_as_test

from local.dynamodb import client_kwargs
from tests.consumption_machine import ALERTS, TOP_UP_THRESHOLD, TOP_UPS_PER_MONTH, ConsumptionMachine, side

SEEN: dict[str, int] = {}  # records and crossings checked over the whole run (it must not be vacuous)
RUNNING: list[ConsumptionMachine] = []  # the running machine: its instant is the store's wall clock


class _MachineClock(datetime):
    @classmethod
    def now(cls, tz=None):  # the store asks for UTC
        return RUNNING[-1].now


class StreamReader:
    """The table's stream from where the last read stopped: every shard, in order."""

    def __init__(self, table) -> None:
        self.streams = boto3.client("dynamodbstreams", **client_kwargs(table.endpoint_url))
        self.arn = table.client.describe_table(TableName=table.name)["Table"]["LatestStreamArn"]
        self.iterators: dict[str, str | None] = {}

    def _discover(self) -> None:
        for shard in self.streams.describe_stream(StreamArn=self.arn)["StreamDescription"]["Shards"]:
            if shard["ShardId"] not in self.iterators:
                self.iterators[shard["ShardId"]] = self.streams.get_shard_iterator(
                    StreamArn=self.arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON")["ShardIterator"]

    def read(self) -> list[dict]:
        """Every record committed since the last read (shards are looked up again only when one
        closes: DynamoDB Local keeps one open shard for long)."""
        if not self.iterators:
            self._discover()
        out = []
        for shard_id in sorted(self.iterators):  # shard ids grow in time
            while self.iterators[shard_id]:
                response = self.streams.get_records(ShardIterator=self.iterators[shard_id], Limit=1000)
                self.iterators[shard_id] = response.get("NextShardIterator")
                out += [{"eventName": r["eventName"], "dynamodb": dict(r["dynamodb"])} for r in response["Records"]]
                if not self.iterators[shard_id]:  # closed: its children follow
                    self._discover()
                if not response["Records"] or len(response["Records"]) < 1000:
                    break
        return out


def _new_image_field(record: dict, name: str) -> str | None:
    value = (record["dynamodb"].get("NewImage") or {}).get(name) or {}
    return value.get("S")


class DynamoConsumptionMachine(ConsumptionMachine):
    table = None
    stream: StreamReader | None = None

    def make_repository(self):
        self.account = f"acct_{uuid.uuid4().hex[:10]}"
        RUNNING[:] = [self]
        repo = DynamoRepository(get_settings())
        self.stream.read()  # what earlier examples wrote
        # Per balance: the side of each alert's threshold and of the rule's, as of the last record.
        self.sides = {(t, s): side(Decimal(0), threshold) for t, s, threshold in ALERTS}
        self.rule_side = side(Decimal(0), TOP_UP_THRESHOLD)
        self.last_balance = {(t, s): Decimal(0) for t, s, _ in ALERTS}
        self.expected_top_ups: dict[str, int] = {}
        return repo, DynamoWatchStore(repo)

    def check_alerts(self) -> None:
        """Every aggregate record committed since the last step, through balance_events as the
        publisher runs it (it also makes the top-ups, whose grants write more records)."""
        thresholds = {(t, s): threshold for t, s, threshold in ALERTS}
        topped_up = True
        while topped_up:  # a top-up grant is one more write of the balance: read on after one
            topped_up = False
            records = [r for r in self.stream.read() if _new_image_field(r, "entity") == "BALANCE"
                       and _new_image_field(r, "accountId") == self.account]
            for record in records:
                _, new = _images(record)
                grant_type, scope = new["grantType"], new.get("currency") or new.get("metricId") or ""
                when = from_iso(new["updatedAt"])
                events = balance_events(record, lambda: self.watches)
                if (grant_type, scope) not in thresholds:
                    assert events == []
                    continue
                after = aggregates.available_at(item_to_buckets(new), when)
                before_side = self.sides[(grant_type, scope)]
                after_side = side(after, thresholds[(grant_type, scope)])
                expected = [] if before_side == after_side else (
                    [BALANCE_LOW] if after_side == "LOW" else [BALANCE_RECOVERED])
                assert [e.type for e in events] == expected, (grant_type, scope, self.last_balance, after)
                for event in events:  # the images' balances are the sequence's
                    assert Decimal(event.data.balanceBefore) == self.last_balance[(grant_type, scope)]
                    assert Decimal(event.data.balanceAfter) == after
                for name in ["records", *expected]:
                    SEEN[name] = SEEN.get(name, 0) + 1
                self.sides[(grant_type, scope)] = after_side
                self.last_balance[(grant_type, scope)] = after
                if (grant_type, scope) == ("CASH", "USD"):
                    rule_after = side(after, TOP_UP_THRESHOLD)
                    if self.rule_side == "HIGH" and rule_after == "LOW":
                        month = f"{when:%Y-%m}"
                        if self.expected_top_ups.get(month, 0) < TOP_UPS_PER_MONTH:
                            self.expected_top_ups[month] = self.expected_top_ups.get(month, 0) + 1
                            topped_up = True
                            SEEN["top-ups"] = SEEN.get("top-ups", 0) + 1
                    self.rule_side = rule_after

    def check_top_ups(self, grants) -> None:
        top_ups = [g for g in grants if g.top_up_rule_id == self.top_up_rule.id]
        assert len(top_ups) == sum(self.expected_top_ups.values())
        by_month: dict[str, int] = {}
        for grant in top_ups:
            by_month[f"{grant.created_at:%Y-%m}"] = by_month.get(f"{grant.created_at:%Y-%m}", 0) + 1
        assert by_month == {m: n for m, n in self.expected_top_ups.items() if n}


def test_consumption_machine_on_dynamodb_local(table, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(dynamo, "datetime", _MachineClock)
    DynamoConsumptionMachine.stream = StreamReader(table)
    run_state_machine_as_test(DynamoConsumptionMachine, settings=settings(
        max_examples=int(os.environ.get("CONSUMPTION_MACHINE_EXAMPLES", "8")), stateful_step_count=20, deadline=None, database=None, derandomize=True,
        suppress_health_check=[HealthCheck.too_slow]))
    # The run saw each kind of crossing (derandomized: the same sequences every run).
    assert SEEN.get(BALANCE_LOW) and SEEN.get(BALANCE_RECOVERED) and SEEN.get("top-ups"), SEEN
