"""`python -m local`: the Docker-free equivalent of `sam local start-api` + `start-lambda`.

Flags override environment variables: PORT (3000), LAMBDA_PORT (3001), DYNAMODB_PORT (8000,
0 = a free port), EVENTS_PORT (3002), TABLE_NAME (credits-local), CREDITS_EXPIRY_INTERVAL_SECONDS
(60, 0 = off), CREDITS_API_KEYS ("key:account,…"; unset = the development key, kept across
restarts), CREDITS_WEBHOOK_URL, CREDITS_WEBHOOK_RETRY_DELAYS ("1,2,4,…" seconds),
CREDITS_DATA_DIR (.local/data; the table, the development key and the webhook outbox),
CREDITS_AUTHORIZER_TTL_SECONDS (the authorizer cache; default: template.yaml's ReauthorizeEvery),
FRESH=1 (delete that data first and start empty).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import threading

from local.dynamodb import LocalStackError
from local.outbox import parse_delays
from local.stack import banner, parse_api_keys, start_stack
from local.template import ROOT


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else default


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local", description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=_env_int("PORT", 3000))
    parser.add_argument("--lambda-port", type=int, default=_env_int("LAMBDA_PORT", 3001))
    parser.add_argument("--dynamodb-port", type=int, default=_env_int("DYNAMODB_PORT", 8000))
    parser.add_argument("--events-port", type=int, default=_env_int("EVENTS_PORT", 3002))
    parser.add_argument("--data-dir", default=os.environ.get("CREDITS_DATA_DIR") or str(ROOT / ".local" / "data"))
    parser.add_argument("--fresh", action="store_true", default=os.environ.get("FRESH", "") not in ("", "0"),
                        help="delete the kept data first (FRESH=1)")
    parser.add_argument("--table-name", default=os.environ.get("TABLE_NAME") or "credits-local")
    parser.add_argument(
        "--expiry-interval", type=float, default=float(os.environ.get("CREDITS_EXPIRY_INTERVAL_SECONDS") or 60)
    )
    parser.add_argument("--webhook-url", default=os.environ.get("CREDITS_WEBHOOK_URL") or None)
    parser.add_argument("--quiet", action="store_true", help="no access log lines")
    args = parser.parse_args(argv)

    if args.fresh:
        shutil.rmtree(args.data_dir, ignore_errors=True)

    stopping = threading.Event()
    # Handlers first: a Ctrl-C during start-up still unwinds what was started.
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda *_: stopping.set())

    try:
        stack = start_stack(
            port=args.port,
            lambda_port=args.lambda_port,
            dynamodb_port=args.dynamodb_port,
            api_keys=parse_api_keys(os.environ.get("CREDITS_API_KEYS")),
            expiry_interval=args.expiry_interval or None,
            webhook_url=args.webhook_url,
            table_name=args.table_name,
            events_port=args.events_port,
            quiet=args.quiet,
            data_dir=args.data_dir,
            webhook_retry_delays=parse_delays(os.environ.get("CREDITS_WEBHOOK_RETRY_DELAYS")),
            authorizer_ttl_seconds=int(os.environ["CREDITS_AUTHORIZER_TTL_SECONDS"])
            if os.environ.get("CREDITS_AUTHORIZER_TTL_SECONDS") else None,
        )
    except (LocalStackError, ValueError, OSError) as exc:
        print(f"local: cannot start: {exc}", file=sys.stderr)
        return 1
    print(banner(stack), flush=True)
    try:
        while not stopping.wait(0.5):
            pass
    finally:
        print("local: stopping …", file=sys.stderr, flush=True)
        stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
