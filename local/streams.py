"""The table's stream → PublisherFunction, as Lambda's DynamoDB event source mapping does it:
batches of up to BatchSize records per shard, in order; ReportBatchItemFailures checkpointing
(re-deliver from the first failed record); a bounded number of retries, then the batch is skipped
(Lambda would send it to the OnFailure destination)."""

from __future__ import annotations

import base64
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from local.lambdas import REGION, FunctionRuntime, log_exception


def _lambda_attribute(value: dict[str, Any]) -> dict[str, Any]:
    """botocore decodes binary attributes to bytes; Lambda receives them base64-encoded."""
    if not value:
        # botocore parses an empty map {"M": {}} of the streams API as {} (sets and strings
        # cannot be empty, and an empty list stays {"L": []}).
        return {"M": {}}
    (kind, inner), = value.items()
    if kind == "B":
        return {"B": base64.b64encode(inner).decode()}
    if kind == "BS":
        return {"BS": [base64.b64encode(b).decode() for b in inner]}
    if kind == "M":
        return {"M": {k: _lambda_attribute(v) for k, v in inner.items()}}
    if kind == "L":
        return {"L": [_lambda_attribute(v) for v in inner]}
    return {kind: inner}


def _image(image: dict[str, Any] | None) -> dict[str, Any] | None:
    return None if image is None else {k: _lambda_attribute(v) for k, v in image.items()}


def lambda_record(record: dict[str, Any], stream_arn: str) -> dict[str, Any]:
    """A dynamodbstreams GetRecords record → the record shape a Lambda function receives."""
    ddb = dict(record["dynamodb"])
    created = ddb.get("ApproximateCreationDateTime")
    if isinstance(created, datetime):
        created = created.timestamp()
    out: dict[str, Any] = {"ApproximateCreationDateTime": created if created is not None else time.time()}
    for key in ("Keys", "NewImage", "OldImage"):
        if key in ddb:
            out[key] = _image(ddb[key])
    out["SequenceNumber"] = ddb["SequenceNumber"]
    out["SizeBytes"] = ddb.get("SizeBytes", 0)
    out["StreamViewType"] = ddb.get("StreamViewType", "NEW_AND_OLD_IMAGES")
    result = {
        "eventID": record["eventID"],
        "eventName": record["eventName"],
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": REGION,
        "dynamodb": out,
        "eventSourceARN": stream_arn,
    }
    if record.get("userIdentity"):  # TTL deletions
        result["userIdentity"] = record["userIdentity"]
    return result


@dataclass
class _Shard:
    shard_id: str
    parent_id: str | None
    iterator: str | None = None
    last_sequence: str | None = None
    closed: bool = False
    pending: list[dict[str, Any]] = field(default_factory=list)  # records read, not yet delivered


class StreamPoller:
    def __init__(
        self,
        runtime: FunctionRuntime,
        dynamodb_url: str,
        table_name: str,
        function: str = "PublisherFunction",
        *,
        poll_interval: float = 0.2,
        batch_size: int | None = None,
        max_retries: int | None = None,
        backoff: float = 0.2,
    ):
        import boto3

        from local.dynamodb import client_kwargs

        props = (runtime.spec(function).streams or [{}])[0]
        self.runtime = runtime
        self.function = function
        self.table_name = table_name
        self.poll_interval = poll_interval
        self.batch_size = min(batch_size or int(props.get("BatchSize", 100)), 1000)
        # Lambda's MaximumRetryAttempts counts retries after the first attempt; -1 = forever.
        retries = max_retries if max_retries is not None else int(props.get("MaximumRetryAttempts", 10))
        self.max_attempts = 1 + (retries if retries >= 0 else 10_000)
        self.backoff = backoff
        self.starting_position = props.get("StartingPosition", "TRIM_HORIZON")
        self._ddb = boto3.client("dynamodb", **client_kwargs(dynamodb_url))
        self._streams = boto3.client("dynamodbstreams", **client_kwargs(dynamodb_url))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="stream-poller", daemon=True)
        self._shards: dict[str, _Shard] = {}
        self._stream_arn: str | None = None
        self._next_discovery = 0.0
        self.delivered = 0
        self.dropped: list[dict[str, Any]] = []  # records given up on (the OnFailure destination)

    def start(self) -> StreamPoller:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    # -- the loop --------------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            if not self.runtime.active.wait(0.2):
                continue  # the stack's environment is switched off (another test is running)
            try:
                # Without a handler, leave the records in the stream (TRIM_HORIZON keeps them).
                if self.runtime.has_handler(self.function):
                    self._poll_once()
            except Exception as exc:  # noqa: BLE001 - keep polling; DynamoDB Local may be stopping
                if self._stop.is_set():
                    return
                log_exception("stream poller", exc)
                self._stop.wait(1.0)
            self._stop.wait(self.poll_interval)

    def _discover(self) -> None:
        if self._stream_arn is None:
            table = self._ddb.describe_table(TableName=self.table_name)["Table"]
            self._stream_arn = table.get("LatestStreamArn")
            if not self._stream_arn:
                raise RuntimeError(f"table {self.table_name} has no stream")
        start: str | None = None
        while True:
            kwargs = {"StreamArn": self._stream_arn, **({"ExclusiveStartShardId": start} if start else {})}
            desc = self._streams.describe_stream(**kwargs)["StreamDescription"]
            for shard in desc.get("Shards", []):
                if shard["ShardId"] not in self._shards:
                    self._shards[shard["ShardId"]] = _Shard(shard["ShardId"], shard.get("ParentShardId"))
            start = desc.get("LastEvaluatedShardId")
            if not start:
                break
        self._next_discovery = time.monotonic() + 1.0

    def _iterator(self, shard: _Shard) -> str | None:
        kwargs: dict[str, Any] = {"StreamArn": self._stream_arn, "ShardId": shard.shard_id}
        if shard.last_sequence:
            kwargs.update(ShardIteratorType="AFTER_SEQUENCE_NUMBER", SequenceNumber=shard.last_sequence)
        else:
            # New shards are always read from their beginning, so no record is missed.
            kwargs["ShardIteratorType"] = "TRIM_HORIZON"
        return self._streams.get_shard_iterator(**kwargs).get("ShardIterator")

    def _poll_once(self) -> None:
        if self._stream_arn is None or time.monotonic() >= self._next_discovery:
            self._discover()
        for shard in list(self._shards.values()):
            if self._stop.is_set():
                return
            parent = self._shards.get(shard.parent_id or "")
            if shard.closed or (parent and not parent.closed):
                continue  # a child shard waits until its parent is fully processed
            self._poll_shard(shard)

    def _poll_shard(self, shard: _Shard) -> None:
        if not shard.pending:
            if shard.iterator is None:
                shard.iterator = self._iterator(shard)
            try:
                response = self._streams.get_records(ShardIterator=shard.iterator, Limit=self.batch_size)
            except (
                self._streams.exceptions.ExpiredIteratorException,
                self._streams.exceptions.TrimmedDataAccessException,
            ):
                shard.iterator = None
                return
            shard.pending = response.get("Records", [])
            shard.iterator = response.get("NextShardIterator")
            if shard.iterator is None and not shard.pending:
                shard.closed = True
                return
        if shard.pending:
            self._deliver(shard)
        if shard.iterator is None and not shard.pending:
            shard.closed = True

    def _deliver(self, shard: _Shard) -> None:
        records = [lambda_record(r, self._stream_arn or "") for r in shard.pending]
        for attempt in range(self.max_attempts):
            while not self.runtime.active.wait(0.2):
                if self._stop.is_set():
                    return
            if self._stop.is_set():
                return
            failed_from = self._invoke(records)
            if failed_from is None:
                self.delivered += len(records)
                shard.last_sequence = records[-1]["dynamodb"]["SequenceNumber"]
                shard.pending = []
                return
            # Checkpoint: what precedes the first failure is done; re-deliver the rest.
            if failed_from > 0:
                self.delivered += failed_from
                shard.last_sequence = records[failed_from - 1]["dynamodb"]["SequenceNumber"]
                records = records[failed_from:]
                shard.pending = shard.pending[failed_from:]
            if attempt + 1 < self.max_attempts:
                self._stop.wait(min(self.backoff * 2**attempt, 2.0))
        print(
            f"local: {self.function} failed {self.max_attempts} times on {len(records)} stream record(s) "
            f"from {records[0]['dynamodb']['SequenceNumber']}: skipped (Lambda would send them to OnFailure)",
            file=sys.stderr,
            flush=True,
        )
        self.dropped.extend(records)
        shard.last_sequence = records[-1]["dynamodb"]["SequenceNumber"]
        shard.pending = []

    def _invoke(self, records: list[dict[str, Any]]) -> int | None:
        """None on success, else the index of the first record to re-deliver."""
        try:
            response = self.runtime.invoke(self.function, {"Records": records})
        except Exception as exc:  # noqa: BLE001 - the whole batch is retried, as Lambda does
            log_exception(f"{self.function} failed on a stream batch", exc)
            return 0
        failures = (response or {}).get("batchItemFailures") if isinstance(response, dict) else None
        if not failures:
            return None
        index = {r["dynamodb"]["SequenceNumber"]: i for i, r in enumerate(records)}
        positions = []
        for failure in failures:
            identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
            if identifier not in index:
                return 0  # an unknown or empty identifier fails the whole batch (Lambda's rule)
            positions.append(index[identifier])
        return min(positions)
