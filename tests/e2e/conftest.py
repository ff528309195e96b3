"""The whole local stack, started once per test session (per xdist worker) on free ports,
exactly as `python -m local` starts it."""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from local.stack import Stack, start_stack

API_KEYS = {"key_a": "acct_a", "key_b": "acct_b"}
AUTHORIZER_TTL_SECONDS = 2


class WebhookReceiver:
    """A tiny HTTP server that collects the JSON bodies POSTed to it."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.down = False  # while set, answer 503 (a receiver that is down for a while)
        self.refused = 0
        self._cond = threading.Condition()
        receiver = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 - stdlib naming
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if receiver.down:
                    receiver.refused += 1
                    self.send_response(503)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                with receiver._cond:
                    receiver.received.append(json.loads(body))
                    receiver.headers.append(dict(self.headers.items()))
                    receiver._cond.notify_all()
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/webhook"

    def wait_for(self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 10.0) -> dict[str, Any]:
        """The first received event matching `predicate`, waiting up to `timeout` seconds."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for event in self.received:
                    if predicate(event):
                        return event
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"no matching webhook within {timeout}s; got {len(self.received)} event(s)")
                self._cond.wait(remaining)

    def matching(self, predicate: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
        with self._cond:
            return [e for e in self.received if predicate(e)]

    def clear(self) -> None:
        with self._cond:
            self.received.clear()
            self.headers.clear()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture(scope="session")
def webhook_receiver() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    try:
        yield receiver
    finally:
        receiver.close()


@pytest.fixture(scope="session")
def stack(webhook_receiver: WebhookReceiver) -> Iterator[Stack]:
    """DynamoDB Local + API + Lambda invoke API + event bus + stream poller, keys key_a → acct_a
    and key_b → acct_b, every event POSTed to `webhook_receiver`. No expiry schedule: tests
    invoke ExpiryFunction themselves (stack.lambda_url)."""
    if not shutil.which("java"):
        pytest.skip("the local stack needs Java for DynamoDB Local (java not on PATH)")
    running = start_stack(
        port=0,
        lambda_port=0,
        dynamodb_port=0,
        api_keys=dict(API_KEYS),
        expiry_interval=None,
        webhook_url=webhook_receiver.url,
        quiet=True,
        # Retries of a failed webhook in tenths of a second, so a receiver that is down for a
        # while costs a test seconds; still bounded (then the dead-letter list).
        webhook_retry_delays=(0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 12.8),
        # The authorizer's cache bound made short (template.yaml: 60 s), so a revoked key's 401
        # is seen within seconds (test_api_keys_http.py).
        authorizer_ttl_seconds=AUTHORIZER_TTL_SECONDS,
    )
    # Its environment (TABLE_NAME, endpoints, fake credentials) is only in os.environ while an
    # e2e test runs (the autouse fixture below): other tests of the session must not see it.
    running.deactivate()
    try:
        yield running
    finally:
        running.stop()
    # Every AWS call a function made in the whole session was checked against its policies in
    # template.yaml: one it lacks fails the run here, even if the function swallowed the error.
    assert running.runtime.access_denied == [], f"IAM: calls the template does not allow: {running.runtime.access_denied}"


@pytest.fixture(autouse=True)
def stack_environment(stack: Stack) -> Iterator[None]:
    stack.activate()
    try:
        yield
    finally:
        stack.deactivate()


@pytest.fixture
def api(stack: Stack) -> Iterator[Callable[..., Any]]:
    """`api("GET", "/credit-grants", key="key_a", json=…)` → requests.Response."""
    import requests

    session = requests.Session()

    def call(method: str, path: str, key: str | None = "key_a", **kwargs: Any) -> Any:
        headers = dict(kwargs.pop("headers", None) or {})
        if key is not None:
            headers.setdefault("Authorization", f"Bearer {key}")
        return session.request(method, stack.api_url + path, headers=headers, timeout=30, **kwargs)

    yield call
    session.close()
