"""Fault injection on the service's own AWS clients, through botocore's event hooks.

`DynamoFaults.attach(client)` registers a `before-send` hook on a client: each HTTP attempt of an
operation may, at random, be answered by a fault instead of DynamoDB Local:
- `throttle`: 400 ProvisionedThroughputExceededException (botocore retries it);
- `internal`: 500 InternalServerError (botocore retries it);
- `timeout_before`: the request never reached DynamoDB (ReadTimeoutError; retried);
- `timeout_after`: the request is sent and takes effect, then the reply is lost (ReadTimeoutError;
  botocore sends it again — TransactWriteItems with the same ClientRequestToken);
- `cancel:<Reason>` (TransactWriteItems only): TransactionCanceledException with that reason for
  the first item (ConditionalCheckFailed, TransactionConflict, ThrottlingError,
  ProvisionedThroughputExceeded, ItemCollectionSizeLimitExceeded, ValidationError), nothing written.
A fault can come as a burst on consecutive attempts, long enough to outlast botocore's retries,
so the service itself sees the error. `FlakyEvents` is an EventBridge client whose PutEvents
fails, wholly or per entry, at random.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from typing import Any

RETRYABLE_REASONS = ("ConditionalCheckFailed", "TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded")
FINAL_REASONS = ("ItemCollectionSizeLimitExceeded", "ValidationError")
KINDS = ("throttle", "internal", "timeout_before", "timeout_after",
         *(f"cancel:{r}" for r in RETRYABLE_REASONS + FINAL_REASONS))
# Faults a retry absorbs: answering one of these with a 500 is a defect.
NON_RETRYABLE = {f"cancel:{r}" for r in FINAL_REASONS}
WRITES = {"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"}


class _Raw:
    def __init__(self, body: bytes):
        self.body = body

    def stream(self, **_: Any):
        yield self.body


def _response(request: Any, status: int, body: dict[str, Any]) -> Any:
    from botocore.awsrequest import AWSResponse

    data = json.dumps(body).encode()
    return AWSResponse(request.url, status, {"Content-Type": "application/x-amz-json-1.0",
                                              "x-amzn-RequestId": "fault", "Content-Length": str(len(data))}, _Raw(data))


class DynamoFaults:
    def __init__(self, rng: random.Random, rate: float = 0.05, burst: float = 0.3, kinds: tuple[str, ...] = KINDS):
        self.rng, self.rate, self.burst_rate, self.kinds = rng, rate, burst, kinds
        self.enabled = False
        self.injected: Counter[str] = Counter()
        self.surfaced_kinds: list[str] = []  # faults injected during the current request
        self._burst: tuple[str, int] | None = None
        self._http = None

    def attach(self, client: Any) -> None:
        client.meta.events.register("before-send.dynamodb", self._before_send)

    def _pick(self, operation: str) -> str | None:
        if self._burst is not None:
            kind, left = self._burst
            self._burst = (kind, left - 1) if left > 1 else None
            return kind
        if not self.enabled or self.rng.random() >= self.rate:
            return None
        kinds = [k for k in self.kinds if not k.startswith("cancel:") or operation == "TransactWriteItems"]
        kind = self.rng.choice(kinds)
        if self.rng.random() < self.burst_rate and not kind.startswith("cancel:"):
            self._burst = (kind if kind != "timeout_after" else "timeout_before", 6)  # outlasts 5 attempts
        return kind

    def _before_send(self, request: Any, **kwargs: Any) -> Any:
        target = request.headers.get("X-Amz-Target", b"")
        operation = (target.decode() if isinstance(target, bytes) else str(target)).rsplit(".", 1)[-1]
        kind = self._pick(operation)
        if kind is None:
            return None
        self.injected[kind] += 1
        self.surfaced_kinds.append(kind)
        from botocore.exceptions import ReadTimeoutError

        if kind == "throttle":
            return _response(request, 400, {"__type": "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
                                            "message": "injected throttling"})
        if kind == "internal":
            return _response(request, 500, {"__type": "com.amazonaws.dynamodb.v20120810#InternalServerError",
                                            "message": "injected internal error"})
        if kind == "timeout_before":
            raise ReadTimeoutError(endpoint_url=request.url)
        if kind == "timeout_after":
            from botocore.httpsession import URLLib3Session

            if self._http is None:
                self._http = URLLib3Session()
            self._http.send(request)  # it takes effect; the caller never hears
            raise ReadTimeoutError(endpoint_url=request.url)
        reason = kind.split(":", 1)[1]
        count = len(json.loads(request.body or b"{}").get("TransactItems", [])) or 1
        reasons = [{"Code": reason, "Message": "injected"}] + [{"Code": "None"}] * (count - 1)
        return _response(request, 400, {"__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
                                         "Message": f"Transaction cancelled [{reason}]", "CancellationReasons": reasons})


class FlakyEvents:
    """An EventBridge client that collects what it accepts and fails at random."""

    def __init__(self, rng: random.Random, rate: float = 0.1):
        self.rng, self.rate = rng, rate
        self.accepted: list[dict[str, Any]] = []
        self.injected: Counter[str] = Counter()

    def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:  # noqa: N803 - boto3's name
        roll = self.rng.random()
        if roll < self.rate / 2:
            self.injected["events:call_failed"] += 1
            raise ConnectionError("injected: PutEvents failed")
        results = []
        for entry in Entries:
            if roll < self.rate and self.rng.random() < 0.5:
                self.injected["events:entry_failed"] += 1
                results.append({"ErrorCode": "InternalFailure", "ErrorMessage": "injected"})
            else:
                self.accepted.append(entry)
                results.append({"EventId": f"e{len(self.accepted)}"})
        return {"FailedEntryCount": sum("ErrorCode" in r for r in results), "Entries": results}


def fast_retries() -> None:
    """botocore's standard retry backs off up to seconds: keep the attempts, drop the waiting."""
    from botocore.retries import standard

    standard.ExponentialBackoff.delay_amount = lambda self, context: 0.0  # type: ignore[method-assign]


def stream_records(client_kwargs: dict[str, Any], table_name: str) -> list[dict[str, Any]]:
    """Every record of the table's stream so far, in the shape a Lambda function receives."""
    import boto3

    from local.streams import lambda_record

    dynamodb = boto3.client("dynamodb", **client_kwargs)
    arn = dynamodb.describe_table(TableName=table_name)["Table"]["LatestStreamArn"]
    streams = boto3.client("dynamodbstreams", **client_kwargs)
    records: list[dict[str, Any]] = []
    for shard in streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
        iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard["ShardId"],
                                              ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        empty = 0
        while iterator and empty < 2:
            response = streams.get_records(ShardIterator=iterator, Limit=1000)
            batch = response.get("Records", [])
            records += [lambda_record(r, arn) for r in batch]
            empty = empty + 1 if not batch else 0
            iterator = response.get("NextShardIterator")
    return records
