"""Running the template's functions as Lambda would run them.

The local stack gives each function a small pool of worker processes (local/worker.py), each
one execution environment running one invocation at a time, so concurrent requests really run
at once, every process has only its own function's environment, and every AWS call is checked
against the function's IAM policies. Without a worker environment (`make bench`, which meters
the handlers' clients in-process) the handlers are loaded into this process instead.
"""

from __future__ import annotations

import collections
import importlib.util
import json
import os
import secrets
import subprocess
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

from local.template import FunctionSpec, function_globals, layer_dirs, resolve_environment

ACCOUNT_ID = "123456789012"
REGION = "us-east-1"

Handler = Callable[[Any, Any], Any]


class HandlerNotFound(Exception):
    """The function's module has no handler (yet): Lambda's Runtime.HandlerNotFound."""


class UnknownFunction(KeyError):
    pass


class FunctionError(Exception):
    """The function failed (raised, could not start, returned something unserialisable): `payload`
    is what Lambda returns for it (errorMessage, errorType, stackTrace)."""

    def __init__(self, payload: dict[str, Any]):
        super().__init__(payload.get("errorMessage", ""))
        self.payload = payload


DEFAULT_WORKERS = int(os.environ.get("CREDITS_LOCAL_WORKERS") or 4)


class Worker:
    """One worker process (one execution environment)."""

    def __init__(self, spec: FunctionSpec, env: dict[str, str], template_path: Path):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "local.worker", spec.logical_id, str(template_path)],
            cwd=str(Path(__file__).resolve().parent.parent),
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        self._read()  # the init phase: the handler module is loaded before the first event

    def _read(self) -> dict[str, Any]:
        line = self.process.stdout.readline()  # type: ignore[union-attr]
        if not line:
            code = self.process.wait()
            raise FunctionError({"errorMessage": f"worker exited with code {code}", "errorType": "Runtime.ExitError"})
        return json.loads(line)

    def invoke(self, event: Any) -> dict[str, Any]:
        self.process.stdin.write(json.dumps({"event": event}) + "\n")  # type: ignore[union-attr]
        self.process.stdin.flush()  # type: ignore[union-attr]
        return self._read()

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.stdin.close()  # type: ignore[union-attr]
            try:
                self.process.wait(timeout=3)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class WorkerPool:
    """Up to `size` workers for one function, started on demand; an invocation waits for an idle
    one (as Lambda would start another environment, up to the concurrency limit)."""

    def __init__(self, spec: FunctionSpec, env: dict[str, str], template_path: Path, size: int):
        self.spec, self.env, self.template_path, self.size = spec, env, template_path, size
        self._idle: list[Worker] = []
        self._count = 0
        self._cond = threading.Condition()
        self._stopped = False

    def _acquire(self) -> Worker:
        with self._cond:
            while not self._idle and self._count >= self.size:
                self._cond.wait()
            if self._idle:
                return self._idle.pop()
            self._count += 1
        try:
            return Worker(self.spec, self.env, self.template_path)
        except BaseException:
            with self._cond:
                self._count -= 1
                self._cond.notify()
            raise

    def _release(self, worker: Worker) -> None:
        with self._cond:
            if worker.alive and not self._stopped:
                self._idle.append(worker)
            else:
                self._count -= 1
                worker.stop()
            self._cond.notify()

    def invoke(self, event: Any) -> dict[str, Any]:
        worker = self._acquire()
        try:
            return worker.invoke(event)
        finally:
            self._release(worker)

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            idle, self._idle = self._idle, []
        for worker in idle:
            worker.stop()


class LambdaContext:
    """What Lambda passes as `context` (the attributes Powertools and handlers read)."""

    def __init__(self, spec: FunctionSpec):
        self.function_name = spec.logical_id
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{spec.logical_id}"
        self.memory_limit_in_mb = spec.memory_size
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{spec.logical_id}"
        self.log_stream_name = f"local/{self.aws_request_id}"
        self.identity = None
        self.client_context = None
        self.tenant_id = None
        self._deadline = time.monotonic() + spec.timeout

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def local_environment(
    template: dict[str, Any],
    specs: dict[str, FunctionSpec],
    *,
    table_name: str,
    dynamodb_url: str,
    events_url: str,
    event_bus_name: str = "credits-local",
    cursor_secret: str | None = None,
) -> dict[str, str]:
    """The functions' environment, resolved locally: Globals.Function.Environment (plus each
    function's own variables — one process, so one shared environment) and the local endpoints."""
    refs = {"CreditsTable": table_name, "CreditsEventBus": event_bus_name, "EnableSwagger": "true"}
    variables = dict((function_globals(template).get("Environment") or {}).get("Variables") or {})
    for spec in specs.values():
        variables.update(spec.environment)
    env = resolve_environment(template, variables, refs)
    env.update(
        {
            "DYNAMODB_ENDPOINT_URL": dynamodb_url,
            "EVENTS_ENDPOINT_URL": events_url,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
            "POWERTOOLS_TRACE_DISABLED": "true",  # no X-Ray daemon here
        }
    )
    env.pop("AWS_SESSION_TOKEN", None)
    # In AWS, CloudFormation resolves CURSOR_SECRET from the stack's CursorSigningSecret (a
    # dynamic reference, not resolved here): locally the stack's own (kept with its data), the
    # shell's, or one random key for this process.
    if not env.get("CURSOR_SECRET"):
        env["CURSOR_SECRET"] = cursor_secret or os.environ.get("CURSOR_SECRET") or secrets.token_urlsafe(32)
    # Cosmetic defaults the developer may override from the shell.
    for key, value in {"POWERTOOLS_METRICS_DISABLED": "true", "POWERTOOLS_DEV": "false"}.items():
        env[key] = os.environ.get(key, value)
    return env


class EnvironmentPatch:
    """Sets variables in os.environ and puts the previous values back on `restore()`; may be
    applied again later (tests run the stack in-process, and the rest of the session must not
    inherit its environment)."""

    _MISSING = object()
    _CLEARED = ("AWS_SESSION_TOKEN", "AWS_PROFILE")  # must not mix with the fake credentials

    def __init__(self, values: dict[str, str]):
        self.values = dict(values)
        self._saved: dict[str, Any] | None = None

    def apply(self) -> None:
        if self._saved is not None:
            return
        self._saved = {k: os.environ.get(k, self._MISSING) for k in [*self.values, *self._CLEARED]}
        for key in self._CLEARED:
            os.environ.pop(key, None)
        os.environ.update(self.values)

    def restore(self) -> None:
        if self._saved is None:
            return
        for key, value in self._saved.items():
            if value is self._MISSING:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        self._saved = None


def add_layers_to_path(template: dict[str, Any]) -> None:
    """Lambda puts each layer's python/ on sys.path; here the source dir (layers/credits)."""
    for path in layer_dirs(template):
        if str(path) not in sys.path:
            sys.path.insert(0, str(path))


class FunctionRuntime:
    """Loads handlers lazily (once, thread-safely) and invokes them with a fake context."""

    _import_lock = threading.RLock()  # module loading touches sys.path / sys.modules

    def __init__(
        self,
        specs: dict[str, FunctionSpec],
        *,
        worker_env: dict[str, str] | None = None,
        template_path: Path | None = None,
        workers_per_function: int = DEFAULT_WORKERS,
    ):
        self.specs = specs
        # Worker processes when given their environment; None: in this process (bench).
        self.worker_env = worker_env
        self.template_path = template_path
        self.workers_per_function = workers_per_function
        self._pools: dict[str, WorkerPool] = {}
        # (function, worker pid, started, ended) of recent invocations, and the calls the IAM
        # check refused: (function, action, resource). Tests read both.
        self.invocations: collections.deque[tuple[str, int, float, float]] = collections.deque(maxlen=10_000)
        self.access_denied: list[tuple[str, str, str]] = []
        # Set while the stack's environment is in os.environ: background work (the stream
        # poller, the schedule) waits for it, so it never runs against another test's environment.
        self.active = threading.Event()
        self.active.set()
        self._handlers: dict[str, Handler | None] = {}
        # One invocation at a time per function, as in one Lambda execution environment, since a
        # handler keeps per-invocation state in globals. The functions behind the API share one:
        # Powertools keeps the current request on the resolver *class* (BaseRouter.current_event),
        # which every resolver in this process shares.
        self._instances: dict[str, threading.RLock] = {}
        self._overrides: dict[str, Handler] = {}
        self._listeners: list[Callable[[str], None]] = []

    def spec(self, name: str) -> FunctionSpec:
        try:
            return self.specs[name]
        except KeyError:
            raise UnknownFunction(name) from None

    def _load(self, spec: FunctionSpec) -> Handler | None:
        path = spec.handler_file
        if not path.is_file():
            return None
        module_name = f"fn_{spec.code_uri.name}_{path.stem}".replace("-", "_")
        with self._import_lock:
            if module_name in sys.modules:
                module: ModuleType = sys.modules[module_name]
            else:
                module_spec = importlib.util.spec_from_file_location(module_name, path)
                assert module_spec and module_spec.loader
                module = importlib.util.module_from_spec(module_spec)
                # In sys.modules before exec: dataclasses / pydantic look their module up there.
                sys.modules[module_name] = module
                # The code dir is the root of the package in Lambda; sibling modules of app.py
                # are importable while it loads (they share one sys.modules here).
                sys.path.insert(0, str(spec.code_uri))
                try:
                    module_spec.loader.exec_module(module)
                except BaseException:
                    sys.modules.pop(module_name, None)
                    raise
                finally:
                    sys.path.remove(str(spec.code_uri))
        handler = getattr(module, spec.handler_name, None)
        return handler if callable(handler) else None

    def handler(self, name: str) -> Handler | None:
        """The function's handler (loading its module on first use), or None if it has none.
        With worker processes, the module is loaded in them: a stand-in that invokes them."""
        if name in self._overrides:
            return self._overrides[name]
        spec = self.spec(name)
        if self.worker_env is not None:
            return (lambda event, _context: self._invoke_worker(spec, event)) if spec.handler_file.is_file() else None
        if name not in self._handlers:
            with self._import_lock:
                if name not in self._handlers:
                    self._handlers[name] = self._load(spec)
        return self._handlers[name]

    def has_handler(self, name: str) -> bool:
        try:
            return self.handler(name) is not None
        except UnknownFunction:
            return False

    def invoke(self, name: str, event: Any) -> Any:
        """Call the handler; its exceptions propagate (callers shape them as Lambda would)."""
        spec = self.spec(name)
        handler = self.handler(name)
        if handler is None:
            raise HandlerNotFound(f"Handler '{spec.handler_name}' missing on module '{spec.handler.rpartition('.')[0]}'")
        if self.worker_env is not None and name not in self._overrides:
            return self._invoke_worker(spec, event)
        with self._import_lock:
            instance = self._instances.setdefault("API" if spec.api_events else name, threading.RLock())
        with instance:
            context = LambdaContext(spec)
            started = time.monotonic()
            try:
                return handler(event, context)
            finally:
                self._warn_if_over_time(name, spec, started)

    def _invoke_worker(self, spec: FunctionSpec, event: Any) -> Any:
        with self._import_lock:
            pool = self._pools.get(spec.logical_id)
            if pool is None:
                assert self.worker_env is not None and self.template_path is not None
                pool = WorkerPool(spec, self.worker_env, self.template_path, self.workers_per_function)
                self._pools[spec.logical_id] = pool
        reply = pool.invoke(event)
        self.invocations.append((spec.logical_id, reply["pid"], reply["started"], reply["ended"]))
        for action, resource in reply.get("denied") or []:
            print(f"local: IAM: {spec.logical_id} is not allowed {action} on {resource}", file=sys.stderr, flush=True)
            self.access_denied.append((spec.logical_id, action, resource))
        if reply["ended"] - reply["started"] > spec.timeout:
            self._warn_if_over_time(spec.logical_id, spec, time.monotonic() - (reply["ended"] - reply["started"]))
        if "error" in reply:
            raise FunctionError(reply["error"])
        return reply["result"]

    def stop(self) -> None:
        """Stop every worker process."""
        with self._import_lock:
            pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            pool.stop()

    @staticmethod
    def _warn_if_over_time(name: str, spec: FunctionSpec, started: float) -> None:
        elapsed = time.monotonic() - started
        if elapsed > spec.timeout:
            print(
                f"local: {name} ran {elapsed:.1f}s, longer than its Timeout of {spec.timeout}s "
                "(Lambda would have stopped it)",
                file=sys.stderr,
                flush=True,
            )

    # -- test hooks ------------------------------------------------------------------------

    @contextmanager
    def override(self, name: str, handler: Handler) -> Iterator[None]:
        """Replace a function's handler for the duration of a `with` block (tests)."""
        self.spec(name)
        previous = self._overrides.get(name)
        self._overrides[name] = handler
        self._changed(name)
        try:
            yield
        finally:
            if previous is None:
                self._overrides.pop(name, None)
            else:
                self._overrides[name] = previous
            self._changed(name)

    def on_change(self, listener: Callable[[str], None]) -> None:
        self._listeners.append(listener)

    def _changed(self, name: str) -> None:
        for listener in self._listeners:
            listener(name)


def lambda_error_payload(exc: BaseException) -> dict[str, Any]:
    """The body Lambda returns for an unhandled error (what botocore callers see)."""
    if isinstance(exc, FunctionError):
        return dict(exc.payload, requestId=exc.payload.get("requestId") or str(uuid.uuid4()))
    error_type = "Runtime.HandlerNotFound" if isinstance(exc, HandlerNotFound) else type(exc).__name__
    return {
        "errorMessage": str(exc),
        "errorType": error_type,
        "requestId": str(uuid.uuid4()),
        "stackTrace": _function_frames(exc),
    }


def _function_frames(exc: BaseException) -> list[str]:
    """The traceback without the local stack's own frames (Lambda shows only the function's)."""
    here = str(Path(__file__).resolve().parent)
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if not f.filename.startswith(here)]
    return [line.rstrip("\n") for line in traceback.format_list(frames)]


def log_exception(prefix: str, exc: BaseException) -> None:
    print(f"local: {prefix}:", file=sys.stderr)
    traceback.print_exception(exc, file=sys.stderr)
    sys.stderr.flush()


def resolve_function_name(raw: str) -> str:
    """Logical id from `Name`, `Name:qualifier` or a full function ARN."""
    if raw.startswith("arn:"):
        parts = raw.split(":")
        return parts[6] if len(parts) > 6 else raw
    return raw.split(":", 1)[0]
