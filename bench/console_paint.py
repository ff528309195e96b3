"""Console bench: time to first meaningful paint of a customer's Credits tab (balances, the first
page of grants and of the ledger on screen) for a customer with 100 grants and 1,000 ledger
entries, in headless Chromium against the local stack; and what the page loads (assets, bytes,
API calls). `python -m bench.console_paint` (also a step of `make bench`)."""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GRANTS, ENTRIES, RUNS = 100, 1000, 7


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def seed(api_url: str, key: str, customer: str) -> None:
    import requests

    s = requests.Session()
    s.headers["Authorization"] = f"Bearer {key}"
    for i in range(GRANTS):
        r = s.post(f"{api_url}/credit-grants", json={"customerId": customer, "name": f"grant {i}", "type": "CASH",
                                                      "amount": "100.00", "currency": "USD", "priority": i % 100})
        r.raise_for_status()
    # Each one-line invoice of 0.01 writes one APPLIED entry (priority 0 grant first).
    for i in range(ENTRIES - GRANTS):
        r = s.post(f"{api_url}/credit-applications", json={"invoiceId": f"inv_b{i}", "customerId": customer,
                                                           "currency": "USD", "lines": [{"lineId": "l1", "amount": "0.01"}]})
        r.raise_for_status()


def measure(api_url: str, key: str, customer: str) -> dict:
    from playwright.sync_api import sync_playwright

    chromium = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    paints, api_firsts, assets = [], [], None
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
        for run in range(RUNS):
            context = browser.new_context()
            context.add_init_script(f"sessionStorage.setItem('credits.console.apiKey', {json.dumps(key)})")
            page = context.new_page()
            page.goto(f"{api_url}/console#/customers/{customer}", wait_until="commit")
            page.wait_for_selector("[data-balance=USD]")
            page.wait_for_selector("table >> text=grant 99")
            page.wait_for_selector("table:has(caption:text(\"Ledger entries\")) >> text=GRANTED")
            paint = page.evaluate("() => performance.now()")
            entries = page.evaluate("() => performance.getEntriesByType('resource').map(e => ({name: e.name, start: e.startTime, end: e.responseEnd, size: e.transferSize, type: e.initiatorType}))")
            api_calls = [e for e in entries if "/console/" not in e["name"]]
            static = [e for e in entries if "/console/" in e["name"]]
            if run > 0:  # the first run warms the functions' cold starts
                paints.append(paint)
                api_firsts.append(min(e["start"] for e in api_calls))
            assets = {"assets": len(static) + 1, "asset_bytes": sum(e["size"] for e in static),
                      "last_asset_ms": round(max(e["end"] for e in static), 1), "api_calls": len(api_calls)}
            context.close()
        browser.close()
    return {"customer_grants": GRANTS, "customer_ledger_entries": ENTRIES, "runs": len(paints),
            "first_meaningful_paint_ms_median": round(statistics.median(paints), 1),
            "first_meaningful_paint_ms_max": round(max(paints), 1),
            "first_api_call_starts_ms_median": round(statistics.median(api_firsts), 1), **(assets or {})}


def main() -> dict:
    sys.path.insert(0, str(ROOT))
    from local.stack import start_stack

    key = f"bench_{uuid.uuid4().hex[:8]}"
    stack = start_stack(port=0, lambda_port=0, dynamodb_port=0, api_keys={key: "acct_console_bench"},
                        expiry_interval=None, webhook_url=None, quiet=True)
    try:
        customer = f"cus_bench{uuid.uuid4().hex[:6]}"
        t = time.monotonic()
        log(f"console: seeding {GRANTS} grants and {ENTRIES} ledger entries")
        seed(stack.api_url, key, customer)
        log(f"  seeded in {time.monotonic() - t:.0f} s; measuring {RUNS} page loads")
        result = measure(stack.api_url, key, customer)
    finally:
        stack.stop()
    out = ROOT / "bench" / "out"
    out.mkdir(parents=True, exist_ok=True)
    (out / "console.json").write_text(json.dumps(result, indent=2))
    log(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
