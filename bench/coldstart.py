"""Cold start: a fresh process per handler module importing it and handling one request, next to
a fresh process doing `import boto3` + one client (and + one GetItem), in the same run; and the
size of each function and of the layer as `sam build` builds them."""

from __future__ import annotations

import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import config
from bench.harness import ROOT, Env, api_event, make_grant, seed

CHILD = Path(__file__).with_name("cold_child.py")
# Powertools + pydantic + boto3 with no code of ours (bench/library_floor/app.py): what any HTTP
# function of this stack costs at least, measured next to the functions in the same rounds.
LIBRARY_FLOOR = "library floor"
LIBRARY_FLOOR_CODE = Path(__file__).with_name("library_floor")


def _events(env: Env) -> dict[str, Callable[[int], dict[str, Any]]]:
    from credits.apikeys import provision_api_key

    account = "acct_cold"
    reps = config.COLD_REPEATS + 2  # the rounds, the unmeasured round, the instruction count
    grants = [make_grant(account, "cus_cold", amount="1000000.00")]
    voidable = [make_grant(account, f"cus_coldv_{i}") for i in range(reps)]
    seed(env.raw, grants + voidable)
    provision_api_key("sk_bench_cold", account)
    stream_record = {"Records": [{"eventID": "1", "eventName": "INSERT", "eventSource": "aws:dynamodb",
                                  "eventSourceARN": "arn:aws:dynamodb:us-east-1:123456789012:table/t/stream/x",
                                  "dynamodb": {"Keys": {"PK": {"S": "APIKEY#x"}, "SK": {"S": "APIKEY"}},
                                               "NewImage": {"PK": {"S": "APIKEY#x"}, "SK": {"S": "APIKEY"},
                                                            "entity": {"S": "APIKEY"}},
                                               "SequenceNumber": "1", "SizeBytes": 10,
                                               "StreamViewType": "NEW_AND_OLD_IMAGES"}}]}
    return {
        "GrantFunction": lambda i: api_event("POST", "/credit-grants", account=account, body={
            "customerId": "cus_cold_new", "name": "cold", "type": "CASH", "amount": "1.00", "currency": "USD"}),
        "ListFunction": lambda i: api_event("GET", f"/credit-grants/{grants[0].id}", account=account),
        "VoidFunction": lambda i: api_event("POST", f"/credit-grants/{voidable[i].id}/void", account=account,
                                            body={"reason": "cold"}),
        "ApplyFunction": lambda i: api_event("POST", "/credit-applications", account=account, body={
            "invoiceId": f"inv_cold_{i}_{time.time_ns()}", "customerId": "cus_cold", "currency": "USD",
            "lines": [{"lineId": "l1", "amount": "0.01"}]}),
        "ExpiryFunction": lambda i: {"source": "aws.scheduler", "detail": {}},
        "PublisherFunction": lambda i: stream_record,
        "ConsumeFunction": lambda i: api_event("POST", "/credit-consumptions", account=account, body={
            "eventId": f"evt_cold_{i}_{time.time_ns()}", "customerId": "cus_cold", "amount": "0.01", "currency": "USD"}),
        "AuthorizerFunction": lambda i: {"type": "REQUEST", "methodArn": "arn:aws:execute-api:us-east-1:1:a/prod/GET/x",
                                         "headers": {"Authorization": "Bearer sk_bench_cold"}},
        "TestClockFunction": lambda i: api_event("POST", "/test-clocks", account=account, body={
            "name": f"cold {i}", "frozenTime": "2026-01-01T00:00:00Z"}),
        "ConsoleFunction": lambda i: {**api_event("GET", "/console", account=account), "requestContext": {}},
        LIBRARY_FLOOR: lambda i: api_event("POST", "/things", account=account, body={"name": f"cold {i}"}),
    }


def _child(kind: str, arg: dict[str, Any], env: dict[str, str]) -> dict[str, float]:
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, str(CHILD), kind, json.dumps(arg)], env=env, capture_output=True,
                          text=True, timeout=120)
    wall = (time.perf_counter() - started) * 1000
    if proc.returncode != 0:
        raise RuntimeError(f"cold start of {kind} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")
    timings = json.loads(proc.stdout.strip().splitlines()[-1])
    return {**timings, "process_ms": wall}


def cold_starts(env: Env, log: Callable[[str], None]) -> dict[str, Any]:
    events = _events(env)
    # Bytecode written in the unmeasured round (any value of PYTHONDONTWRITEBYTECODE, "0" too, stops it).
    child_env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    layer = str(ROOT / "layers" / "credits")
    kinds: list[tuple[str, str, Any]] = [("boto3 + client", "boto3", {}), ("boto3 + client + 1 GetItem", "boto3+call", {})]
    kinds.append((LIBRARY_FLOOR, LIBRARY_FLOOR, None))
    missing = sorted(set(env.specs) - set(events))
    if missing:  # every function of template.yaml is measured: a new one needs its first request here
        raise RuntimeError(f"no cold-start event for {', '.join(missing)}")
    for name, spec in env.specs.items():
        kinds.append((name, name, spec))
    # One unmeasured round first: .pyc files compiled, page cache warm (Lambda's are too).
    for label, kind, spec in kinds:
        _child(kind, _arg(kind, spec, layer, events, config.COLD_REPEATS), child_env)
    results: dict[str, list[dict[str, float]]] = {label: [] for label, _, _ in kinds}
    for rep in range(config.COLD_REPEATS):  # interleaved, so drift hits every kind alike
        for label, kind, spec in kinds:
            results[label].append(_child(kind, _arg(kind, spec, layer, events, rep), child_env))
    summary = {}
    for label, runs in results.items():
        summary[label] = {key: statistics.median(r[key] for r in runs) for key in runs[0]}
        log(f"  {label:28s} process {summary[label]['process_ms']:6.0f} ms  (init {summary[label]['init_ms']:6.0f} ms, "
            f"first request {summary[label]['request_ms']:6.0f} ms)")
    if config.COLD_INSTRUCTIONS and shutil.which("valgrind"):
        for label, kind, spec in kinds:
            summary[label]["instructions"] = _instructions(kind, _arg(kind, spec, layer, events, config.COLD_REPEATS + 1),
                                                           child_env)
            log(f"  {label:28s} {summary[label]['instructions'] / 1e6:8,.0f} M instructions")
    return summary


def _instructions(kind: str, arg: dict[str, Any], env: dict[str, str]) -> int:
    """The instructions one cold process executes, first request and exit included (valgrind's
    cachegrind without the cache simulation): unlike wall time, the same whatever the machine's load."""
    proc = subprocess.run(["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null",
                           sys.executable, str(CHILD), kind, json.dumps(arg)],
                          env={**env, "PYTHONHASHSEED": "0"}, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        raise RuntimeError(f"instruction count of {kind} failed:\n{proc.stderr[-3000:]}")
    refs = re.search(r"I\s+refs:\s+([\d,]+)", proc.stderr)
    if refs is None:
        raise RuntimeError(f"no instruction count in valgrind's output for {kind}:\n{proc.stderr[-2000:]}")
    return int(refs.group(1).replace(",", ""))


def _arg(kind: str, spec: Any, layer: str, events: dict[str, Any], index: int) -> dict[str, Any]:
    if kind.startswith("boto3"):
        return {}
    code = LIBRARY_FLOOR_CODE if kind == LIBRARY_FLOOR else spec.code_uri
    return {"layer": layer, "code": str(code), "event": events[kind](index)}


def import_profile(module_dir: str, top: int = 15) -> list[tuple[str, float]]:
    """`python -X importtime` of a handler module: the slowest imports (cumulative ms)."""
    env = {**os.environ}
    code = f"import sys; sys.path[:0] = [{str(ROOT / 'layers' / 'credits')!r}, {module_dir!r}]; import app"
    proc = subprocess.run([sys.executable, "-X", "importtime", "-c", code], env=env, capture_output=True, text=True,
                          timeout=120)
    rows = []
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cumulative_us, name = line[len("import time:"):].split("|")
        depth = (len(name) - len(name.lstrip(" ")) - 1) // 2
        if 1 <= depth <= 2:  # what app.py imports, and what those import
            rows.append((name.strip(), int(cumulative_us) / 1000))
    rows.sort(key=lambda r: -r[1])
    return rows[:top]


def sam_sizes(log: Callable[[str], None]) -> dict[str, Any]:
    """`sam build` into a temporary directory; unzipped and zipped size of each artifact."""
    build = Path(tempfile.mkdtemp(prefix="bench-sam-"))
    env = {**os.environ, "SAM_CLI_TELEMETRY": "0", "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    sam = shutil.which("sam", path=env["PATH"])
    started = time.monotonic()
    try:
        if not sam:
            raise RuntimeError("sam is not installed in the virtualenv")
        proc = subprocess.run([sam, "build", "--build-dir", str(build / "build"), "--cache-dir", str(build / "cache")],
                              cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
        if proc.returncode != 0:
            raise RuntimeError(f"sam build failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
        sizes = {}
        for artifact in sorted((build / "build").iterdir()):
            if artifact.is_dir():
                sizes[artifact.name] = {"bytes": _du(artifact), "zipped": _zipped(artifact)}
        log(f"  sam build: {time.monotonic() - started:.0f} s; " +
            ", ".join(f"{k} {v['zipped'] / 1e6:.2f} MB zipped" for k, v in sizes.items()))
        return {"sizes": sizes, "seconds": time.monotonic() - started}
    finally:
        shutil.rmtree(build, ignore_errors=True)


def _du(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def _zipped(path: Path) -> int:
    target = path.parent / f"{path.name}.zip"
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for f in sorted(path.rglob("*")):
            if f.is_file():
                archive.write(f, f.relative_to(path))
    size = target.stat().st_size
    target.unlink()
    return size


def main() -> None:
    """`make bench-cold`: only the cold starts, written into the last full run's results and
    BENCHMARKS.md (the other sections keep that run's figures)."""
    import platform
    from datetime import UTC, datetime

    from bench.report import PLOTS, write

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    env = Env()
    started = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    load_before = os.getloadavg()[0]
    try:
        log(f"cold starts ({config.COLD_REPEATS} interleaved rounds; load {load_before:.2f})")
        cold = cold_starts(env, log)
    finally:
        env.stop()
    floor = cold["boto3 + client"]
    for label, row in cold.items():
        counted = f"  {row['instructions'] / floor['instructions']:5.2f}x in instructions" if "instructions" in row else ""
        log(f"  {label:28s} {row['process_ms'] / floor['process_ms']:5.2f}x{counted}")
    log(f"load after: {os.getloadavg()[0]:.2f}; {platform.python_version()}")
    path = PLOTS / "results.json"
    if path.exists():
        data = json.loads(path.read_text())
        data["cold"] = cold
        data["imports"] = import_profile(str(ROOT / "functions" / "apply"))
        data["cold_run"] = {"started": started, "load": [round(load_before, 2), round(os.getloadavg()[0], 2)],
                            "repeats": config.COLD_REPEATS}
        log(f"wrote {write(data)}")


if __name__ == "__main__":
    main()
