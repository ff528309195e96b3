"""A local EventBridge bus: PutEvents as botocore sends it, rules from template.yaml, webhooks.

Each event is printed (`event <detail-type> <detail.id>`), kept in memory (GET/DELETE /events on
this server), delivered to the webhook URL when one is set (only events matching the template's
webhook rule, `source: [credits.service]`) through a durable outbox with retries and a
dead-letter list (GET /dead-letters; GET /outbox shows what waits), and delivered asynchronously
to every function whose EventBridgeRule pattern matches, as EventBridge would.
"""

from __future__ import annotations

import json
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from local.httpd import BadFraming, BodyTooLarge, Handler, Server
from local.lambdas import ACCOUNT_ID, REGION, FunctionRuntime, log_exception
from local.outbox import WebhookOutbox

MAX_ENTRIES = 10  # PutEvents accepts at most 10 entries per call
MAX_ENTRY_BYTES = 256 * 1024


# ---------------------------------------------------------------------------------------------
# Event patterns (the subset of EventBridge's pattern language that rules here use)
# ---------------------------------------------------------------------------------------------


def _match_value(condition: Any, value: Any, present: bool) -> bool:
    values = value if isinstance(value, list) else [value]
    if isinstance(condition, dict):
        if "exists" in condition:
            return present == bool(condition["exists"])
        if not present:
            return False
        if "anything-but" in condition:
            banned = condition["anything-but"]
            if isinstance(banned, dict) and "prefix" in banned:
                return all(not (isinstance(v, str) and v.startswith(banned["prefix"])) for v in values)
            banned = banned if isinstance(banned, list) else [banned]
            return all(v not in banned for v in values)
        if "prefix" in condition:
            return any(isinstance(v, str) and v.startswith(condition["prefix"]) for v in values)
        if "suffix" in condition:
            return any(isinstance(v, str) and v.endswith(condition["suffix"]) for v in values)
        if "equals-ignore-case" in condition:
            target = str(condition["equals-ignore-case"]).lower()
            return any(isinstance(v, str) and v.lower() == target for v in values)
        raise ValueError(f"unsupported event pattern condition {condition!r}")
    return present and any(v == condition for v in values)


def matches(pattern: dict[str, Any], event: dict[str, Any]) -> bool:
    """Whether `event` matches the EventBridge `pattern`."""
    for key, condition in pattern.items():
        present = isinstance(event, dict) and key in event
        value = event.get(key) if present else None
        if isinstance(condition, dict):
            if not (present and isinstance(value, dict) and matches(condition, value)):
                return False
        elif isinstance(condition, list):
            if not any(_match_value(c, value, present) for c in condition):
                return False
        else:
            raise ValueError(f"invalid event pattern at {key!r}: {condition!r}")
    return True


def utc_now_z() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _time_z(value: Any) -> str:
    if value in (None, ""):
        return utc_now_z()
    if isinstance(value, (int, float)):  # botocore's JSON protocol sends epoch seconds
        return datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return str(value)


# ---------------------------------------------------------------------------------------------
# The bus
# ---------------------------------------------------------------------------------------------


class EventBus:
    def __init__(
        self,
        runtime: FunctionRuntime,
        *,
        webhook_url: str | None = None,
        webhook_patterns: list[dict[str, Any]] | None = None,
        webhook_headers: dict[str, str] | None = None,
        echo: bool = True,
        async_retries: int = 2,
        outbox_path: Path | None = None,
        webhook_retry_delays: tuple[float, ...] | None = None,
    ):
        self.runtime = runtime
        self.webhook_url = webhook_url
        # No webhook rule in the template → every event goes to the webhook.
        self.webhook_patterns = webhook_patterns or [{}]
        self.webhook_headers = webhook_headers or {}
        self.echo = echo
        self.async_retries = async_retries  # Lambda retries a failed async invocation twice
        self.events: deque[dict[str, Any]] = deque(maxlen=10_000)
        self._lock = threading.Lock()
        self._listeners: list[Callable[[dict[str, Any]], None]] = []
        self._rules = [
            (spec.logical_id, pattern)
            for spec in runtime.specs.values()
            for pattern in spec.eventbridge_rules
        ]
        self._invoker = ThreadPoolExecutor(max_workers=4, thread_name_prefix="bus-invoke")
        self.outbox = (
            WebhookOutbox(webhook_url, path=outbox_path, headers=self.webhook_headers, retry_delays=webhook_retry_delays)
            if webhook_url
            else None
        )
        self.server: Server | None = None

    # -- PutEvents -------------------------------------------------------------------------

    def put_events(self, entries: list[dict[str, Any]]) -> dict[str, Any]:
        results, failed = [], 0
        for entry in entries:
            event, error = self._to_event(entry)
            if error:
                failed += 1
                results.append({"ErrorCode": error[0], "ErrorMessage": error[1]})
                continue
            results.append({"EventId": event["id"]})
            self.publish(event)
        return {"FailedEntryCount": failed, "Entries": results}

    @staticmethod
    def _to_event(entry: dict[str, Any]) -> tuple[dict[str, Any], tuple[str, str] | None]:
        for field in ("Source", "DetailType", "Detail"):
            if not entry.get(field):
                return {}, ("InvalidArgument", f"Parameter {field} is not valid. Reason: {field} is a required argument.")
        if len(json.dumps(entry)) > MAX_ENTRY_BYTES:
            return {}, ("InvalidArgument", "Entry is larger than 256 KB.")
        try:
            detail = json.loads(entry["Detail"])
        except (TypeError, ValueError):
            return {}, ("MalformedDetail", "Detail is malformed.")
        if not isinstance(detail, dict):
            return {}, ("MalformedDetail", "Detail is malformed.")
        event = {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": entry["DetailType"],
            "source": entry["Source"],
            "account": ACCOUNT_ID,
            "time": _time_z(entry.get("Time")),
            "region": REGION,
            "resources": list(entry.get("Resources") or []),
            "detail": detail,
        }
        return event, None

    def publish(self, event: dict[str, Any]) -> None:
        """Record, print, send to the webhook and route one EventBridge event."""
        with self._lock:
            self.events.append(event)
        if self.echo:
            detail_id = event["detail"].get("id") if isinstance(event.get("detail"), dict) else None
            print(f"event {event['detail-type']} {detail_id or ''}".rstrip(), flush=True)
        if self.outbox and any(matches(p, event) for p in self.webhook_patterns):
            self.outbox.add(event)
        for function, pattern in self._rules:
            try:
                hit = matches(pattern, event)
            except ValueError as exc:
                print(f"local: rule for {function}: {exc}", file=sys.stderr, flush=True)
                continue
            if hit:
                self._invoker.submit(self._invoke_async, function, event)
        for listener in list(self._listeners):
            listener(event)

    def on_event(self, listener: Callable[[dict[str, Any]], None]) -> None:
        self._listeners.append(listener)

    def _invoke_async(self, function: str, event: dict[str, Any]) -> None:
        for attempt in range(self.async_retries + 1):
            try:
                if not self.runtime.has_handler(function):
                    return  # not implemented yet: nothing to deliver to
                self.runtime.invoke(function, event)
                return
            except Exception as exc:  # noqa: BLE001 - logged; retried like an async invoke
                if attempt == self.async_retries:
                    log_exception(f"{function} failed on event {event['id']} ({event['detail-type']}), giving up", exc)
                    return
                log_exception(f"{function} failed on event {event['id']}, retrying", exc)
                time.sleep(0.5 * 2**attempt)

    # -- server ----------------------------------------------------------------------------

    def serve(self, host: str = "127.0.0.1", port: int = 0) -> Server:
        bus = self

        class BusHandler(Handler):
            quiet = True

            def do_POST(self) -> None:  # noqa: N802 - stdlib naming
                try:
                    body = self.read_body()
                except BodyTooLarge:
                    return self.send_json(413, {"message": "Request Too Long"}, [("Connection", "close")])
                except BadFraming as exc:
                    return self.send_bad_framing(exc)
                target = self.headers.get("X-Amz-Target", "")
                headers = [("x-amzn-RequestId", str(uuid.uuid4()))]
                ctype = "application/x-amz-json-1.1"
                if target != "AWSEvents.PutEvents":
                    return self._error(400, "UnknownOperationException", f"unsupported operation {target!r}", headers)
                try:
                    request = json.loads(body or b"{}")
                    entries = request["Entries"]
                    assert isinstance(entries, list)
                except (ValueError, KeyError, AssertionError):
                    return self._error(400, "ValidationException", "Entries is required", headers)
                if not 1 <= len(entries) <= MAX_ENTRIES:
                    return self._error(
                        400,
                        "ValidationException",
                        f"1 validation error detected: Value at 'entries' failed to satisfy constraint: "
                        f"Member must have length less than or equal to {MAX_ENTRIES}",
                        headers,
                    )
                result = bus.put_events(entries)
                self.send(200, json.dumps(result).encode(), [("Content-Type", ctype), *headers])

            def _error(self, status: int, code: str, message: str, headers: list[tuple[str, str]]) -> None:
                payload = json.dumps({"__type": code, "message": message}).encode()
                self.send(status, payload, [("Content-Type", "application/x-amz-json-1.1"), *headers])

            def do_GET(self) -> None:  # noqa: N802
                path = self.path.split("?")[0]
                if path == "/dead-letters":
                    return self.send_json(200, bus.outbox.dead_letters() if bus.outbox else [])
                if path == "/outbox":
                    return self.send_json(200, bus.outbox.pending() if bus.outbox else [])
                if path != "/events":
                    return self.send_json(404, {"message": "not found"})
                with bus._lock:
                    events = list(bus.events)
                self.send_json(200, events)

            def do_DELETE(self) -> None:  # noqa: N802
                if self.path.split("?")[0] != "/events":
                    return self.send_json(404, {"message": "not found"})
                with bus._lock:
                    bus.events.clear()
                self.send(204)

        self.server = Server(host, port, BusHandler, "events").start()
        return self.server

    @property
    def url(self) -> str:
        assert self.server, "call serve() first"
        return self.server.url

    def stop(self) -> None:
        if self.server:
            self.server.stop()
            self.server = None
        if self.outbox:
            self.outbox.stop()
        self._invoker.shutdown(wait=False, cancel_futures=True)
