"""A local SQS: the queues of template.yaml, served over the AWS JSON protocol (what boto3's
`sqs` client speaks), and each function's SQS event source: batches of up to `BatchSize`
messages delivered to the function, partial batch failures (`ReportBatchItemFailures`) put back,
and a message received `maxReceiveCount` times moved to its RedrivePolicy's dead-letter queue
— what Lambda's event source mapping and SQS do, without AWS.

Locally a failed message is visible again after `retry_delay` seconds (not the queue's
VisibilityTimeout), so a poison message reaches the dead-letter queue in about a second.
"""

from __future__ import annotations

import hashlib
import json
import sys
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from local.httpd import BadFraming, BodyTooLarge, Handler, Server
from local.iam import ACCOUNT_ID, PARTITION, REGION
from local.template import FunctionSpec, QueueSpec, ref_target


@dataclass
class Message:
    message_id: str
    body: str
    sent_at: float
    receive_count: int = 0
    visible_at: float = 0.0
    receipt: str = ""


@dataclass
class Queue:
    spec: QueueSpec
    messages: deque[Message] = field(default_factory=deque)
    in_flight: dict[str, Message] = field(default_factory=dict)  # receipt -> message

    @property
    def arn(self) -> str:
        return f"arn:{PARTITION}:sqs:{REGION}:{ACCOUNT_ID}:{self.spec.name}"


class LocalQueues:
    def __init__(self, runtime: Any, specs: dict[str, QueueSpec], functions: dict[str, FunctionSpec], *,
                 retry_delay: float = 0.2, poll_interval: float = 0.05):
        self.runtime = runtime
        self.queues = {name: Queue(spec) for name, spec in specs.items()}
        self.retry_delay = retry_delay
        self.poll_interval = poll_interval
        self._lock = threading.Condition()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.server: Server | None = None
        # (function, queue logical id, batch size) of every SQS event source
        self.sources = [(f.logical_id, ref_target(q.get("Queue")) or "", int(q.get("BatchSize") or 10),
                         "ReportBatchItemFailures" in (q.get("FunctionResponseTypes") or []))
                        for f in functions.values() for q in f.queues]

    # -- queue operations ------------------------------------------------------------------
    def queue_named(self, name_or_url: str) -> Queue:
        name = name_or_url.rstrip("/").rsplit("/", 1)[-1]
        if name not in self.queues:
            raise KeyError(name)
        return self.queues[name]

    def url(self, queue: Queue) -> str:
        assert self.server is not None
        return f"{self.server.url}/{ACCOUNT_ID}/{queue.spec.name}"

    def send(self, queue: Queue, body: str) -> Message:
        message = Message(str(uuid.uuid4()), body, time.time())
        with self._lock:
            queue.messages.append(message)
            self._lock.notify_all()
        return message

    def receive(self, queue: Queue, limit: int) -> list[Message]:
        """Up to `limit` visible messages, now in flight (their receive count raised)."""
        now = time.time()
        taken: list[Message] = []
        with self._lock:
            kept: deque[Message] = deque()
            while queue.messages:
                message = queue.messages.popleft()
                if len(taken) < limit and message.visible_at <= now:
                    message.receive_count += 1
                    message.receipt = str(uuid.uuid4())
                    queue.in_flight[message.receipt] = message
                    taken.append(message)
                else:
                    kept.append(message)
            queue.messages = kept
        return taken

    def delete(self, queue: Queue, receipt: str) -> None:
        with self._lock:
            queue.in_flight.pop(receipt, None)

    def put_back(self, queue: Queue, message: Message) -> None:
        """A failed receive: visible again shortly, or on to the dead-letter queue once it was
        received maxReceiveCount times."""
        with self._lock:
            queue.in_flight.pop(message.receipt, None)
            dead = self.queues.get(queue.spec.dead_letter or "")
            if dead is not None and queue.spec.max_receive_count and message.receive_count >= queue.spec.max_receive_count:
                dead.messages.append(Message(message.message_id, message.body, message.sent_at))
            else:
                message.visible_at = time.time() + self.retry_delay
                queue.messages.append(message)
            self._lock.notify_all()

    def depth(self, queue: Queue) -> int:
        with self._lock:
            return len(queue.messages)

    # -- event sources ---------------------------------------------------------------------
    def _deliver(self, function: str, queue: Queue, batch_size: int, partial: bool) -> None:
        while not self._stop.is_set():
            if not self.depth(queue):
                with self._lock:
                    self._lock.wait(self.poll_interval)
                continue
            batch = self.receive(queue, batch_size)
            if not batch:
                with self._lock:
                    self._lock.wait(self.poll_interval)
                continue
            event = {"Records": [self._record(queue, m) for m in batch]}
            try:
                reply = self.runtime.invoke(function, event)
                reported = (reply or {}).get("batchItemFailures") or [] if partial else []
                failed = {f.get("itemIdentifier") for f in reported}
            except Exception as exc:
                print(f"local sqs: {function} failed on a batch of {queue.spec.name}: {exc}", file=sys.stderr)
                failed = {m.message_id for m in batch}
            for message in batch:
                if message.message_id in failed:
                    self.put_back(queue, message)
                else:
                    self.delete(queue, message.receipt)

    def _record(self, queue: Queue, message: Message) -> dict[str, Any]:
        return {"messageId": message.message_id, "receiptHandle": message.receipt, "body": message.body,
                "attributes": {"ApproximateReceiveCount": str(message.receive_count),
                               "SentTimestamp": str(int(message.sent_at * 1000)), "SenderId": ACCOUNT_ID,
                               "ApproximateFirstReceiveTimestamp": str(int(time.time() * 1000))},
                "messageAttributes": {}, "md5OfBody": _md5(message.body),
                "eventSource": "aws:sqs", "eventSourceARN": queue.arn, "awsRegion": REGION}

    def start(self) -> None:
        for function, queue_id, batch_size, partial in self.sources:
            if queue_id not in self.queues:
                continue
            thread = threading.Thread(target=self._deliver, args=(function, self.queues[queue_id], batch_size, partial),
                                      name=f"sqs-{queue_id}", daemon=True)
            thread.start()
            self._threads.append(thread)

    # -- server (AWS JSON 1.0, X-Amz-Target: AmazonSQS.<Operation>) -------------------------
    def serve(self, host: str = "127.0.0.1", port: int = 0) -> Server:
        queues = self

        class SqsHandler(Handler):
            quiet = True

            def do_POST(self) -> None:
                try:
                    request = json.loads(self.read_body() or b"{}")
                except (BodyTooLarge, BadFraming, ValueError):
                    return self._error("InvalidParameterValue", "the request body is not JSON")
                operation = (self.headers.get("X-Amz-Target") or "").removeprefix("AmazonSQS.")
                try:
                    result = queues.operation(operation, request)
                except KeyError as exc:
                    return self._error("AWS.SimpleQueueService.NonExistentQueue", f"no queue {exc}")
                except ValueError as exc:
                    return self._error("InvalidParameterValue", str(exc))
                self.send(200, json.dumps(result).encode(), [("Content-Type", "application/x-amz-json-1.0")])

            def _error(self, code: str, message: str) -> None:
                body = json.dumps({"__type": f"com.amazonaws.sqs#{code}", "message": message}).encode()
                self.send(400, body, [("Content-Type", "application/x-amz-json-1.0"), ("x-amzn-query-error", f"{code};Sender")])

        self.server = Server(host, port, SqsHandler, "sqs").start()
        return self.server

    def operation(self, operation: str, request: dict[str, Any]) -> dict[str, Any]:
        if operation == "GetQueueUrl":
            return {"QueueUrl": self.url(self.queue_named(request["QueueName"]))}
        if operation == "ListQueues":
            return {"QueueUrls": [self.url(q) for q in self.queues.values()]}
        queue = self.queue_named(request.get("QueueUrl", ""))
        if operation == "SendMessage":
            message = self.send(queue, _body(request))
            return {"MessageId": message.message_id, "MD5OfMessageBody": _md5(message.body)}
        if operation == "SendMessageBatch":
            entries = request.get("Entries") or []
            if not 1 <= len(entries) <= 10:
                raise ValueError("a batch holds 1-10 entries")
            out = []
            for entry in entries:
                message = self.send(queue, _body(entry))
                out.append({"Id": entry["Id"], "MessageId": message.message_id, "MD5OfMessageBody": _md5(message.body)})
            return {"Successful": out, "Failed": []}
        if operation == "ReceiveMessage":
            messages = self.receive(queue, int(request.get("MaxNumberOfMessages") or 1))
            return {"Messages": [{"MessageId": m.message_id, "ReceiptHandle": m.receipt, "Body": m.body,
                                  "MD5OfBody": _md5(m.body)} for m in messages]}
        if operation == "DeleteMessage":
            self.delete(queue, request["ReceiptHandle"])
            return {}
        if operation == "GetQueueAttributes":
            with self._lock:
                in_flight = len(queue.in_flight)
            return {"Attributes": {"ApproximateNumberOfMessages": str(self.depth(queue)),
                                   "ApproximateNumberOfMessagesNotVisible": str(in_flight), "QueueArn": queue.arn}}
        if operation == "PurgeQueue":
            with self._lock:
                queue.messages.clear()
            return {}
        raise ValueError(f"unsupported operation {operation!r}")

    def stop(self) -> None:
        self._stop.set()
        with self._lock:
            self._lock.notify_all()
        for thread in self._threads:
            thread.join(5)
        if self.server:
            self.server.stop()
            self.server = None


def _body(request: dict[str, Any]) -> str:
    body = request.get("MessageBody")
    if not isinstance(body, str) or not body:
        raise ValueError("MessageBody is required")
    return body


def _md5(body: str) -> str:
    return hashlib.md5(body.encode()).hexdigest()
