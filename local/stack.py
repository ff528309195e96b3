"""The whole local stack, in threads of this process: `python -m local` and the e2e tests both
start it through `start_stack`, so they exercise the same code."""

from __future__ import annotations

import atexit
import json
import os
import secrets
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from local.bus import EventBus
from local.dynamodb import DynamoDBLocal, client_kwargs, start_dynamodb, table_exists
from local.gateway import Gateway
from local.invoke_api import InvokeApi
from local.lambdas import EnvironmentPatch, FunctionRuntime, local_environment
from local.schedule import Scheduler
from local.sqs import LocalQueues
from local.streams import StreamPoller
from local.template import TEMPLATE_PATH, create_table, functions, layer_dirs, load_template, webhook_patterns
from local.template import queues as template_queues

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
    data_dir: Path | None = None  # None: in memory
    data_kept: bool = False  # the data of an earlier run was found and kept
    key_kept: bool = False  # the development key of an earlier run is used again
    queues: LocalQueues | None = None  # the template's SQS queues and their event sources
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


def _deactivate(env: EnvironmentPatch) -> None:
    env.restore()


# The product's own key tool (`make api-key` runs it too). Run as a subprocess, as an operator
# runs it against a deployed table, so the local stack needs no knowledge of how keys are stored.
API_KEY_TOOL = "credits.apikeys"


def provision_keys(api_keys: dict[str, str], env: dict[str, str], template: dict) -> bool:
    """Store each key for its account with the product's api-key tool (hashed, as the
    authorizer reads them); the tools run in parallel, one per key."""
    tool_env = {**os.environ, **env, "PYTHONPATH": os.pathsep.join(str(p) for p in layer_dirs(template))}
    tools = [
        (key, subprocess.Popen(
            [sys.executable, "-m", API_KEY_TOOL, account, "--key", key],
            env=tool_env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        ))
        for key, account in api_keys.items()
    ]
    ok = True
    for _key, tool in tools:
        _, errors = tool.communicate()
        if tool.returncode != 0:
            print(f"local: WARNING: {API_KEY_TOOL} failed ({errors.strip()[-500:]}); that key will be 401", file=sys.stderr)
            ok = False
    return ok


DEV_KEY_FILE = "dev-api-key"
# The cursor-signing key, kept like the development key so that a client's paging cursors stay
# valid across restarts of a stack whose data is kept.
CURSOR_SECRET_FILE = "cursor-secret"


def development_key(data_dir: Path | None) -> tuple[str, bool]:
    """(key, whether it is the earlier run's): the key kept in `data_dir` when there is one, else
    a new one, saved there (owner-only) for the next run. Either way it is provisioned again."""
    return kept_secret(data_dir, DEV_KEY_FILE, lambda: "sk_dev_" + secrets.token_urlsafe(24))


def kept_secret(data_dir: Path | None, name: str, make: Callable[[], str]) -> tuple[str, bool]:
    """(secret, whether it is the earlier run's): the one saved as `name` in `data_dir`, else a
    new one from `make`, saved there owner-only (in memory only without `data_dir`)."""
    path = Path(data_dir) / name if data_dir else None
    if path and path.is_file() and path.read_text().strip():
        return path.read_text().strip(), True
    value = make()
    if path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(value + "\n")
    return value, False


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
    template_path: Path = TEMPLATE_PATH,
    workers_per_function: int | None = None,
    data_dir: Path | None = None,
    webhook_retry_delays: tuple[float, ...] | None = None,
    authorizer_ttl_seconds: int | None = None,
) -> Stack:
    """Start DynamoDB Local (or use `dynamodb_url`), create the table from template.yaml, and
    serve the API, the Lambda invoke API and the event bus; feed the table stream to the
    publisher and run the expiry schedule every `expiry_interval` seconds (None: never).

    `api_keys` None → one development key for account `acct_dev`, generated once and kept in
    `data_dir` (with DynamoDB Local's files and the webhook outbox) when one is given; without
    `data_dir` everything is in memory. `authorizer_ttl_seconds` replaces the template's
    ReauthorizeEvery (CREDITS_AUTHORIZER_TTL_SECONDS for `python -m local`).
    """
    template = load_template(template_path)
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
        data_kept = bool(data_dir and any(Path(data_dir).glob("*.db")))
        if dynamodb_url is None:
            ddb_handle = start_dynamodb(dynamodb_port, data_dir=data_dir)
            stoppers.append(ddb_handle.stop)
            dynamodb_url = ddb_handle.endpoint_url
        import boto3

        client = boto3.client("dynamodb", **client_kwargs(dynamodb_url))
        if not table_exists(client, table_name):
            create_table(client, table_name, template)

        runtime = FunctionRuntime(specs, worker_env={}, template_path=Path(template_path),
                                  **({"workers_per_function": workers_per_function} if workers_per_function else {}))
        stoppers.append(runtime.stop)
        webhook_headers = {}
        if os.environ.get("CREDITS_WEBHOOK_TOKEN"):
            header = (template.get("Parameters") or {}).get("WebhookAuthHeaderName", {}).get("Default")
            webhook_headers[header or "X-Credits-Webhook-Token"] = os.environ["CREDITS_WEBHOOK_TOKEN"]
        bus = EventBus(
            runtime,
            webhook_url=webhook_url,
            webhook_patterns=webhook_patterns(template),
            webhook_headers=webhook_headers,
            outbox_path=Path(data_dir) / "webhook-outbox.sqlite3" if data_dir else None,
            webhook_retry_delays=webhook_retry_delays,
        )
        stoppers.append(bus.stop)
        bus.serve(host, events_port)

        # The functions' environment, before any handler module is imported.
        env = EnvironmentPatch(
            local_environment(
                template, specs, table_name=table_name, dynamodb_url=dynamodb_url, events_url=bus.url, event_bus_name=DEFAULT_BUS,
                cursor_secret=os.environ.get("CURSOR_SECRET")
                or kept_secret(data_dir, CURSOR_SECRET_FILE, lambda: secrets.token_urlsafe(32))[0],
            )
        )
        # Each worker process gets the functions' environment and the local resources' names
        # (for the IAM check's ARNs); this process keeps its own.
        local_names = {"CreditsTable": table_name, "CreditsEventBus": DEFAULT_BUS}
        runtime.worker_env.update(
            {**os.environ, **env.values, "CREDITS_LOCAL_RESOURCE_NAMES": json.dumps(local_names)}
        )
        for variable in EnvironmentPatch._CLEARED:
            runtime.worker_env.pop(variable, None)
        _activate(env)
        stoppers.append(lambda: _deactivate(env))

        key_kept = False
        if api_keys is None:
            dev_key, key_kept = development_key(data_dir)
            api_keys = {dev_key: DEV_ACCOUNT}
        provisioned = provision_keys(api_keys, env.values, template)

        gateway = Gateway(runtime, template, authorizer_ttl_seconds)
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
        local_queues = LocalQueues(runtime, template_queues(template), specs)
        stoppers.append(local_queues.stop)
        local_queues.serve(host, 0)
        local_queues.start()
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
        data_dir=Path(data_dir) if data_dir else None,
        data_kept=data_kept,
        key_kept=key_kept,
        queues=local_queues,
        _stoppers=stoppers,
    )
    atexit.register(stack.stop)
    return stack


def aws_environment(stack: Stack) -> dict[str, str]:
    """What to export in a shell so that boto3 and the AWS CLI reach the local stack (botocore
    reads the per-service AWS_ENDPOINT_URL_<SERVICE> variables)."""
    return {
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL_DYNAMODB": stack.dynamodb_url,
        "AWS_ENDPOINT_URL_LAMBDA": stack.lambda_url,
        "AWS_ENDPOINT_URL_EVENTBRIDGE": stack.events_url,
        **({"AWS_ENDPOINT_URL_SQS": stack.queues.server.url} if stack.queues and stack.queues.server else {}),
        "TABLE_NAME": stack.table_name,
    }


def banner(stack: Stack) -> str:
    keys = "\n".join(f"    {key}  →  {account}" for key, account in stack.api_keys.items())
    warn = "" if stack.keys_provisioned else f"\n  (keys NOT provisioned: {API_KEY_TOOL} failed, see above)"
    if stack.data_dir is None:
        data = "in memory (gone when this stops)"
    elif stack.data_kept:
        data = f"kept from the last run in {stack.data_dir}   (FRESH=1 starts empty)"
    else:
        data = f"new, kept in {stack.data_dir} across restarts   (FRESH=1 starts empty)"
    key_note = ""
    if stack.data_dir is not None and len(stack.api_keys) == 1 and DEV_ACCOUNT in stack.api_keys.values():
        key_note = "   (the same key as last run)" if stack.key_kept else f"   (new; saved in {stack.data_dir / DEV_KEY_FILE})"
    exports = " ".join(f"{k}={v}" for k, v in aws_environment(stack).items())
    webhook = stack.bus.webhook_url or "not set (CREDITS_WEBHOOK_URL=http://… make run)"
    return f"""
  Credit grants — local stack (no Docker)
  Data           {data}
  API            {stack.api_url}
  Console        {stack.api_url}/console   (sign in with an API key below)
  Swagger UI     {stack.api_url}/swagger
  Console        {stack.api_url}/console
  Lambda invoke  {stack.lambda_url}   (boto3 lambda client endpoint_url)
  DynamoDB Local {stack.dynamodb_url}   table {stack.table_name}
  Event bus      {stack.events_url}   (GET /events: published events; GET /dead-letters: undeliverable webhooks)
  SQS            {stack.queues.server.url if stack.queues and stack.queues.server else '-'}   (ConsumptionQueue → ConsumeFunction; boto3 sqs client endpoint_url)
  Webhook        {webhook}
  API keys (Authorization: Bearer <key>){key_note}:
{keys}{warn}

  For local AWS calls (boto3, aws CLI), paste:
    export {exports}

  Try:  curl -H 'Authorization: Bearer {next(iter(stack.api_keys), '')}' {stack.api_url}/credit-grants
  Ctrl-C stops everything.
"""
