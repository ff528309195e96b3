"""The whole local stack, in threads of this process: `python -m local` and the e2e tests both
start it through `start_stack`, so they exercise the same code."""

from __future__ import annotations

import atexit
import os
import secrets
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from local.bus import EventBus
from local.dynamodb import DynamoDBLocal, client_kwargs, start_dynamodb, table_exists
from local.gateway import Gateway
from local.invoke_api import InvokeApi
from local.lambdas import EnvironmentPatch, FunctionRuntime, add_layers_to_path, local_environment
from local.schedule import Scheduler
from local.streams import StreamPoller
from local.template import create_table, functions, load_template, webhook_patterns

DEFAULT_TABLE = "credits-local"
DEFAULT_BUS = "credits-local"
DEV_ACCOUNT = "acct_dev"
PUBLISHER = "PublisherFunction"


@dataclass
class Stack:
    api_url: str
    lambda_url: str
    dynamodb_url: str
    events_url: str
    table_name: str
    api_keys: dict[str, str]  # key → account
    keys_provisioned: bool
    runtime: FunctionRuntime
    bus: EventBus
    gateway: Gateway
    invoke_api: InvokeApi
    poller: StreamPoller | None
    scheduler: Scheduler | None
    dynamodb: DynamoDBLocal | None
    env: EnvironmentPatch
    _stoppers: list[Callable[[], None]] = field(default_factory=list, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def stop(self) -> None:
        """Stop every server and thread, kill DynamoDB Local, restore the environment.
        Safe to call twice."""
        with self._lock:
            stoppers, self._stoppers = self._stoppers, []
        for stop in reversed(stoppers):
            try:
                stop()
            except Exception as exc:  # noqa: BLE001 - keep stopping the rest
                print(f"local: error while stopping: {exc}", file=sys.stderr)
        atexit.unregister(self.stop)

    @property
    def environment(self) -> dict[str, str]:
        """The functions' environment (TABLE_NAME, DYNAMODB_ENDPOINT_URL, EVENTS_ENDPOINT_URL …)."""
        return dict(self.env.values)

    def activate(self) -> None:
        """Put the functions' environment into os.environ (start_stack does; idempotent)."""
        _activate(self.env)
        self.runtime.active.set()

    def deactivate(self) -> None:
        """Restore os.environ as it was before the stack (a test session's other tests must not
        see it); the handlers read it again on `activate()`."""
        self.runtime.active.clear()
        _deactivate(self.env)

    def __enter__(self) -> Stack:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _activate(env: EnvironmentPatch) -> None:
    env.apply()
    _reset_core_caches()


def _deactivate(env: EnvironmentPatch) -> None:
    env.restore()
    _reset_core_caches()  # the core re-reads settings lazily from the restored environment


def _reset_core_caches() -> None:
    """The core package caches settings and adapters per process: forget them, so handlers see
    this stack's table and endpoints (and, after stop, whatever the environment says again)."""
    try:
        from credits.container import reset
    except ImportError:
        return
    reset()


def provision_keys(api_keys: dict[str, str]) -> bool:
    """Write the keys through the core package (hashed, as the authorizer reads them)."""
    try:
        from credits.apikeys import provision_api_key
    except ImportError as exc:
        print(f"local: WARNING: cannot provision API keys ({exc}); every request will be 401", file=sys.stderr)
        return False
    for key, account in api_keys.items():
        provision_api_key(key, account)
    return True


def parse_api_keys(value: str | None) -> dict[str, str] | None:
    """CREDITS_API_KEYS="key1:acct_a,key2:acct_b" → {"key1": "acct_a", …}; None when unset."""
    if not value or not value.strip():
        return None
    keys = {}
    for pair in value.split(","):
        key, sep, account = pair.strip().partition(":")
        if not (sep and key and account):
            raise ValueError(f"CREDITS_API_KEYS: expected key:account, got {pair.strip()!r}")
        keys[key] = account
    return keys


def start_stack(
    port: int = 0,
    lambda_port: int = 0,
    dynamodb_port: int = 0,
    api_keys: dict[str, str] | None = None,
    expiry_interval: float | None = None,
    webhook_url: str | None = None,
    *,
    table_name: str = DEFAULT_TABLE,
    events_port: int = 0,
    dynamodb_url: str | None = None,
    host: str = "127.0.0.1",
    quiet: bool = False,
    stream_poll_interval: float = 0.2,
) -> Stack:
    """Start DynamoDB Local (or use `dynamodb_url`), create the table from template.yaml, and
    serve the API, the Lambda invoke API and the event bus; feed the table stream to the
    publisher and run the expiry schedule every `expiry_interval` seconds (None: never).

    `api_keys` None → one generated development key for account `acct_dev`.
    One stack per process at a time: handlers read the process environment.
    """
    template = load_template()
    specs = functions(template)
    stoppers: list[Callable[[], None]] = []

    def unwind() -> None:
        for stop in reversed(stoppers):
            try:
                stop()
            except Exception:  # noqa: BLE001, S110 - best effort while failing
                pass

    try:
        ddb_handle = None
        if dynamodb_url is None:
            ddb_handle = start_dynamodb(dynamodb_port)
            stoppers.append(ddb_handle.stop)
            dynamodb_url = ddb_handle.endpoint_url
        import boto3

        client = boto3.client("dynamodb", **client_kwargs(dynamodb_url))
        if not table_exists(client, table_name):
            create_table(client, table_name, template)

        runtime = FunctionRuntime(specs)
        webhook_headers = {}
        if os.environ.get("CREDITS_WEBHOOK_TOKEN"):
            header = (template.get("Parameters") or {}).get("WebhookAuthHeaderName", {}).get("Default")
            webhook_headers[header or "X-Credits-Webhook-Token"] = os.environ["CREDITS_WEBHOOK_TOKEN"]
        bus = EventBus(
            runtime,
            webhook_url=webhook_url,
            webhook_patterns=webhook_patterns(template),
            webhook_headers=webhook_headers,
        )
        stoppers.append(bus.stop)
        bus.serve(host, events_port)

        # The functions' environment, before any handler module is imported.
        env = EnvironmentPatch(
            local_environment(
                template, specs, table_name=table_name, dynamodb_url=dynamodb_url, events_url=bus.url, event_bus_name=DEFAULT_BUS
            )
        )
        add_layers_to_path(template)
        _activate(env)
        stoppers.append(lambda: _deactivate(env))

        if api_keys is None:
            api_keys = {"sk_dev_" + secrets.token_urlsafe(24): DEV_ACCOUNT}
        provisioned = provision_keys(api_keys)

        gateway = Gateway(runtime, template)
        stoppers.append(gateway.stop)
        gateway.serve(host, port, quiet=quiet)
        invoke_api = InvokeApi(runtime)
        stoppers.append(invoke_api.stop)
        invoke_api.serve(host, lambda_port, quiet=quiet)

        poller = None
        if PUBLISHER in specs:
            poller = StreamPoller(runtime, dynamodb_url, table_name, PUBLISHER, poll_interval=stream_poll_interval)
            stoppers.append(poller.stop)
            poller.start()
        scheduler = None
        if expiry_interval:
            scheduler = Scheduler(runtime, expiry_interval)
            stoppers.append(scheduler.stop)
            scheduler.start()
    except BaseException:
        unwind()
        raise

    stack = Stack(
        api_url=gateway.server.url,  # type: ignore[union-attr]
        lambda_url=invoke_api.server.url,  # type: ignore[union-attr]
        dynamodb_url=dynamodb_url,
        events_url=bus.url,
        table_name=table_name,
        api_keys=dict(api_keys),
        keys_provisioned=provisioned,
        runtime=runtime,
        bus=bus,
        gateway=gateway,
        invoke_api=invoke_api,
        poller=poller,
        scheduler=scheduler,
        dynamodb=ddb_handle,
        env=env,
        _stoppers=stoppers,
    )
    atexit.register(stack.stop)
    return stack


def banner(stack: Stack) -> str:
    keys = "\n".join(f"    {key}  →  {account}" for key, account in stack.api_keys.items())
    warn = "" if stack.keys_provisioned else "\n  (keys NOT provisioned: credits.apikeys is missing)"
    return f"""
  Credit grants — local stack (no Docker)
  API            {stack.api_url}
  Lambda invoke  {stack.lambda_url}   (boto3 lambda client endpoint_url)
  DynamoDB Local {stack.dynamodb_url}   table {stack.table_name}
  Event bus      {stack.events_url}   (GET /events lists published events)
  API keys (Authorization: Bearer <key>):
{keys}{warn}

  Try:  curl -H 'Authorization: Bearer {next(iter(stack.api_keys), '')}' {stack.api_url}/credit-grants
  Ctrl-C stops everything.
"""
