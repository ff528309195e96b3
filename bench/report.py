"""BENCHMARKS.md and the PNG plots from one run's results."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from bench.harness import ROOT  # noqa: E402

PLOTS = Path(__file__).with_name("plots")
OUT = ROOT / "BENCHMARKS.md"


def _fmt(ms: float) -> str:
    return f"{ms:.1f}" if ms < 100 else f"{ms:.0f}"


def _calls(calls: dict[str, int]) -> str:
    return ", ".join(f"{v} {k}" for k, v in sorted(calls.items(), key=lambda kv: -kv[1])) or "—"


def _fit_ratio(sizes: list[int], values: list[float]) -> float:
    """Growth from the smallest to the largest size along a least-squares line in log-log space:
    robust to the few-ms noise of single points on DynamoDB Local."""
    import numpy as np

    if len(sizes) < 2:
        return 1.0
    x, y = np.log(np.array(sizes, dtype=float)), np.log(np.array(values, dtype=float))
    slope = float(np.polyfit(x, y, 1)[0])
    return float(math.exp(slope * (x[-1] - x[0])))


def _save(fig: Any, name: str) -> str:
    PLOTS.mkdir(exist_ok=True)
    fig.tight_layout()
    fig.savefig(PLOTS / name, dpi=110)
    plt.close(fig)
    return f"bench/plots/{name}"


# ====================================================================== plots


def plot_ops(ops: list[dict[str, Any]]) -> tuple[str, str]:
    names = [o["name"] for o in ops]
    x = range(len(ops))
    fig, ax = plt.subplots(figsize=(11, 4.5))
    service = [o["service"]["p50"] for o in ops]
    floor = [o["floor"]["p50"] for o in ops]
    ax.bar([i - 0.2 for i in x], service, 0.4, label="operation through its handler (p50)",
           yerr=[[0] * len(ops), [o["service"]["p95"] - o["service"]["p50"] for o in ops]], capsize=3)
    ax.bar([i + 0.2 for i in x], floor, 0.4, label="floor: its raw boto3 calls (p50)",
           yerr=[[0] * len(ops), [o["floor"]["p95"] - o["floor"]["p50"] for o in ops]], capsize=3)
    ax.set_xticks(list(x), names, rotation=30, ha="right")
    ax.set_yscale("log")
    ax.set_ylabel("ms (log; whisker = p95)")
    ax.set_title("Warm latency per operation vs its floor (DynamoDB Local)")
    ax.legend()
    latency = _save(fig, "ops_latency.png")

    fig, ax = plt.subplots(figsize=(11, 4))
    ax.bar([i - 0.2 for i in x], [sum(o["calls"].values()) for o in ops], 0.4, label="calls made")
    ax.bar([i + 0.2 for i in x], [o["minimum_calls"] for o in ops], 0.4, label="minimum possible")
    ax.set_xticks(list(x), names, rotation=30, ha="right")
    ax.set_ylabel("DynamoDB calls per operation")
    ax.set_title("Round trips per operation")
    ax.legend()
    return latency, _save(fig, "round_trips.png")


def plot_customer(rows: list[dict[str, Any]]) -> str:
    sizes = [r["size"] for r in rows]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for key, label in (("apply", "apply touching 1 (p50)"), ("balance", "balance (p50)"),
                       ("query", "raw Query of the customer's grants (p50)")):
        ax.plot(sizes, [r[key]["p50"] for r in rows], marker="o", label=label)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("grants on the customer")
    ax.set_ylabel("ms")
    ax.set_title("Apply and balance vs grants on the customer")
    ax.legend()
    return _save(fig, "scaling_customer.png")


def plot_list(rows: list[dict[str, Any]]) -> str:
    sizes = [r["size"] for r in rows]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for key, label in (("list", "list page, limit 20 (p50)"), ("count", "its COUNT query alone (p50)"),
                       ("floor", "floor: one Query of 21 (p50)"), ("balance", "balance of a 10-grant customer (p50)")):
        ax.plot(sizes, [r[key]["p50"] for r in rows], marker="o", label=label)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("grants in the account")
    ax.set_ylabel("ms")
    ax.set_title("List page and balance vs account size")
    ax.legend()
    return _save(fig, "scaling_list.png")


def plot_expiry(rows: list[dict[str, Any]], floor: dict[str, Any]) -> str:
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for batch, label in ((max(r["batch"] for r in rows), "batched"), (1, "one transaction per grant")):
        subset = [r for r in rows if r["batch"] == batch]
        if batch != 1:
            label = f"{batch} grants per transaction (now)"
        else:
            label = "1 grant per transaction (before)"
        ax.plot([r["n"] for r in subset], [r["rate"] for r in subset], marker="o", label=label)
    ax.axhline(floor["rate"], color="grey", linestyle="--", label=f"floor: raw calls ({floor['n']:,} grants)")
    ax.axhline(200, color="red", linestyle=":", label="target 200 grants/s")
    ax.set_xscale("log")
    ax.set_xlabel("due grants")
    ax.set_ylabel("grants expired per second")
    ax.set_title("Expiry sweep throughput (DynamoDB Local)")
    ax.legend()
    return _save(fig, "expiry_throughput.png")


def plot_txn(rows: list[dict[str, Any]]) -> str:
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot([r["items"] for r in rows], [r["per_grant"] for r in rows], marker="o", label="ms per grant (2 items)")
    ax.plot([r["items"] for r in rows], [r["p50"] for r in rows], marker="s", label="ms per transaction")
    ax.set_xlabel("items in one TransactWriteItems")
    ax.set_yscale("log")
    ax.set_ylabel("ms (p50)")
    ax.set_title("DynamoDB Local: cost of a transaction by size")
    ax.legend()
    return _save(fig, "transaction_cost.png")


def plot_contention(rows: list[dict[str, Any]]) -> str:
    fig, ax = plt.subplots(figsize=(7, 4))
    threads = [r["threads"] for r in rows]
    ax.bar([t - 0.4 for t in threads], [r["throughput"] for r in rows], 0.8, label="applications/s")
    ax.set_xlabel("threads applying on one customer")
    ax.set_ylabel("applications per second")
    ax2 = ax.twinx()
    ax2.plot(threads, [r["retry_rate"] for r in rows], color="C1", marker="o", label="conflict retries per application")
    ax2.set_ylabel("retries per application")
    ax.set_title("Contention on one customer (zero over-spend checked)")
    lines = ax.get_legend_handles_labels()
    lines2 = ax2.get_legend_handles_labels()
    ax.legend(lines[0] + lines2[0], lines[1] + lines2[1], loc="upper left")
    return _save(fig, "contention.png")


def plot_cold(cold: dict[str, Any]) -> str:
    labels = list(cold)
    fig, ax = plt.subplots(figsize=(9, 4.5))
    init = [cold[k]["init_ms"] for k in labels]
    req = [cold[k]["request_ms"] for k in labels]
    rest = [cold[k]["process_ms"] - cold[k]["init_ms"] - cold[k]["request_ms"] for k in labels]
    ax.bar(labels, rest, label="interpreter start + exit")
    ax.bar(labels, init, bottom=rest, label="imports + client / module init")
    ax.bar(labels, req, bottom=[a + b for a, b in zip(rest, init)], label="first request")
    ax.axhline(cold[labels[0]]["process_ms"] * 1.3, color="red", linestyle=":", label="target: 1.3 × boto3 + client")
    ax.set_xticks(range(len(labels)), labels, rotation=30, ha="right")
    ax.set_ylabel("ms (median of fresh processes)")
    ax.set_title("Cold start per handler vs import boto3 + one client")
    ax.legend(fontsize=8)
    return _save(fig, "cold_start.png")


def cold_ratios(cold: dict[str, Any], rows: dict[str, Any]) -> tuple[float, float, str]:
    """The lowest and highest cold start of `rows` over the boto3 floor: in instructions where the
    run counted them (exact whatever the load; the verdict's measure), else in wall time."""
    floor = cold["boto3 + client"]
    key = "instructions" if "instructions" in floor and all("instructions" in v for v in rows.values()) else "process_ms"
    ratios = [v[key] / floor[key] for v in rows.values()]
    return min(ratios), max(ratios), key


def cold_target_result(cold: dict[str, Any], handlers: dict[str, Any], library_floor: dict[str, Any] | None) -> str:
    best, worst, key = cold_ratios(cold, handlers)
    wall_best, wall_worst, _ = cold_ratios(cold, {k: {"process_ms": v["process_ms"]} for k, v in handlers.items()})
    floor_ms = cold["boto3 + client"]["process_ms"]
    library = ""
    if library_floor:
        library = f"; the libraries alone, with no code of ours: **{library_floor[key] / cold['boto3 + client'][key]:.2f}×**"
    if key == "instructions":
        wall_library = f", the libraries alone {library_floor['process_ms'] / floor_ms:.2f}×" if library_floor else ""
        return (f"in instructions (the same whatever the load): {best:.2f}× – **{worst:.2f}×** of `import boto3` + "
                f"client{library}. In wall time {wall_best:.2f}× – {wall_worst:.2f}× of {_fmt(floor_ms)} ms"
                f"{wall_library}")
    return f"{best:.2f}× – **{worst:.2f}×** of `import boto3` + client ({_fmt(floor_ms)} ms){library}"


# ====================================================================== markdown


def write(results: dict[str, Any]) -> Path:
    ops = results["ops"]
    by_name = {o["name"]: o for o in ops}
    latency_png, trips_png = plot_ops(ops)
    customer_png = plot_customer(results["customer"])
    list_png = plot_list(results["list"])
    expiry_png = plot_expiry(results["expiry"], results["expiry_floor"])
    txn_png = plot_txn(results["txn_cost"])
    contention_png = plot_contention(results["contention"])
    cold_png = plot_cold(results["cold"])
    (PLOTS / "results.json").write_text(json.dumps({k: v for k, v in results.items() if k != "ops_raw"}, indent=1,
                                                   default=str))

    cfg = results["config"]
    cust, lst, exp = results["customer"], results["list"], results["expiry"]
    batched = [r for r in exp if r["batch"] > 1]
    unbatched = [r for r in exp if r["batch"] == 1]
    cold = results["cold"]
    boto3_ms = cold["boto3 + client"]["process_ms"]
    library_floor = next((v for k, v in cold.items() if k.startswith("library floor")), None)
    handlers = {k: v for k, v in cold.items() if not k.startswith(("boto3", "library floor"))}

    apply1 = by_name["apply touching 1"]
    apply_ratio = apply1["service"]["p50"] / apply1["floor"]["p50"]
    cust_ratio = cust[-1]["apply"]["p50"] / cust[0]["apply"]["p50"]
    bal_cust_ratio = cust[-1]["balance"]["p50"] / cust[0]["balance"]["p50"]
    list_ratio = lst[-1]["list"]["p50"] / lst[0]["list"]["p50"]
    bal_list_ratio = lst[-1]["balance"]["p50"] / lst[0]["balance"]["p50"]
    list_sizes = [r["size"] for r in lst]
    bal_fit = _fit_ratio(list_sizes, [r["balance"]["p50"] for r in lst])
    floor_fit = _fit_ratio(list_sizes, [r["floor"]["p50"] for r in lst])
    bal_range = (min(r["balance"]["p50"] for r in lst), max(r["balance"]["p50"] for r in lst))
    floor_range = (min(r["floor"]["p50"] for r in lst), max(r["floor"]["p50"] for r in lst))
    balance_flat = bal_fit <= max(1.2, floor_fit)
    # Flat = no more growth than the floor (the shards' raw Queries) shows on DynamoDB Local in the same run.
    list_fit = _fit_ratio(list_sizes, [r["list"]["p50"] for r in lst])
    list_flat = list_fit <= max(1.2, floor_fit)
    best_rate = max(r["rate"] for r in batched)
    worst_cold = cold_ratios(cold, handlers)[1]

    def verdict(ok: bool) -> str:
        return "**met**" if ok else "**missed**"

    L: list[str] = []
    add = L.append
    add("# Benchmarks")
    add("")
    add("Generated by `make bench` (`python -m bench`; `BENCH_QUICK=1` for a smoke run) — do not edit by hand. "
        "Every figure comes from **one run against one DynamoDB Local** (in-memory, the table created from "
        "`template.yaml`: three GSIs and a stream), so they compare as ratios: operation / floor, size N / size 1. "
        "Absolute milliseconds are DynamoDB Local's on this machine (a JVM on the same 2 cores as the client), "
        "not DynamoDB's: on AWS every call is ~5–10 ms and a transaction's cost does not grow per item the way it "
        "does here.")
    add("")
    add(f"Run: {results['started']}, {results['machine']}, {results['elapsed_s'] / 60:.1f} min. "
        f"Raw numbers: [`bench/plots/results.json`](bench/plots/results.json).")
    add("")
    add("<details><summary>Sizes of this run (environment variables in <code>bench/config.py</code>)</summary>")
    add("")
    for k, v in cfg.items():
        add(f"- {k}: {v}")
    add("")
    add("</details>")
    add("")

    # ---- targets
    add("## Targets")
    add("")
    add("| target | result | |")
    add("| --- | --- | --- |")
    add(f"| apply ≤ 1.5× its floor at p50 | apply touching 1: {_fmt(apply1['service']['p50'])} ms vs floor "
        f"{_fmt(apply1['floor']['p50'])} ms = **{apply_ratio:.2f}×** | {verdict(apply_ratio <= 1.5)} |")
    add(f"| list pages flat in table size | list page {_fmt(lst[0]['list']['p50'])} ms at {lst[0]['size']:,} grants → "
        f"{_fmt(lst[-1]['list']['p50'])} ms at {lst[-1]['size']:,} = {list_ratio:.2f}×; fitted growth **{list_fit:.2f}×** "
        f"(the shards' raw Queries: {floor_fit:.2f}× on the same fit) | {verdict(list_flat)} |")
    add(f"| balance flat in table size | balance of a 10-grant customer {_fmt(bal_range[0])}–{_fmt(bal_range[1])} ms at "
        f"every size, no trend: fitted growth {lst[0]['size']:,} → {lst[-1]['size']:,} **{bal_fit:.2f}×** (a fixed "
        f"floor of the shards' raw Queries moves {_fmt(floor_range[0])}–{_fmt(floor_range[1])} ms, {floor_fit:.2f}× on the same fit) | "
        f"{verdict(balance_flat)} |")
    add(f"| apply flat in grants not touched (1 → {cust[-1]['size']:,} within 1.2×) | {_fmt(cust[0]['apply']['p50'])} → "
        f"{_fmt(cust[-1]['apply']['p50'])} ms = **{cust_ratio:.2f}×** | {verdict(cust_ratio <= 1.2)} |")
    add(f"| expiry ≥ 200 grants/s | **{best_rate:.0f} grants/s** batched (was {max(r['rate'] for r in unbatched):.0f} "
        f"one transaction per grant); floor {results['expiry_floor']['rate']:.0f} grants/s | {verdict(best_rate >= 200)} |")
    add(f"| cold start ≤ 1.3× the boto3 floor | {cold_target_result(cold, handlers, library_floor)} | "
        f"{verdict(worst_cold <= 1.3)} |")
    if results.get("consumption"):
        L.extend(consumption_rows(results["consumption"]))
    add("")
    add("Why each miss happens is under its section below (and [Misses and causes](#misses-and-causes)).")
    add("")

    # ---- round trips
    add("## Round trips and consumed capacity per operation")
    add("")
    add("Counted with botocore event hooks on the service's own client (`after-call` per operation name; a "
        "`before-parameter-build` handler adds `ReturnConsumedCapacity=TOTAL` where the operation accepts it) — "
        "no service code involved. One call of each operation; capacity units as DynamoDB Local reports them "
        "(transactions count twice). DynamoDB Local's transaction figures are not AWS's: it reports far "
        "fewer units for one 90-item transaction than for 45 transactions of 2 items, whereas on DynamoDB a "
        "transactional write costs 2 WCU per KB per item either way (reads: compare freely).")
    add("")
    add(f"![round trips]({trips_png})")
    add("")
    add("| operation | calls made | minimum possible | capacity units | the extra, and why |")
    add("| --- | --- | --- | ---: | --- |")
    for o in ops:
        made = sum(o["calls"].values())
        add(f"| {o['name']} | {made}: {_calls(o['calls'])} | {o['minimum_calls']}: {o['minimum']} | "
            f"{sum(o['capacity'].values()):.1f} | {o['extra'] or ('none' if made == o['minimum_calls'] else '')} |")
    for r in exp:
        if r.get("capacity") is None:
            continue
        n = r["n"]
        minimum = 8 + math.ceil(n / 50)
        label = (f"expiry of {n} grants (batched, 45 per transaction)" if r["batch"] > 1
                 else f"expiry of {n} grants (before: one transaction per grant)")
        why = ("the index is KEYS_ONLY, so each batch is read again (one consistent BatchGetItem) for its version and "
               "balance — projecting them into GSI2 would save those reads (the version condition already guards "
               "stale index data); batches are per shard thread, so small sweeps make partial batches"
               if r["batch"] > 1 else "one GetItem and one TransactWriteItems per grant")
        why += ("; then, for `balance_depleted`, one Query of the burn-down index per customer balance the "
                "expiries took from and one notice write per balance they emptied (here 20 customers holding only "
                "expiring grants: +20 Query, +20 TransactWriteItems)")
        add(f"| {label} | {sum(r['calls'].values())}: {_calls(r['calls'])} | {minimum}: 8 Query (4 shards × expiry and "
            f"notice queues) + ⌈{n}/50⌉ TransactWriteItems | {sum(r['capacity'].values()):.1f} | {why} |")
    add("")

    # ---- latency
    add("## Warm latency: operation vs floor")
    add("")
    add("Each operation goes through its Lambda handler in-process (`functions/<name>/app.py`, API Gateway proxy "
        "event, Powertools resolver and validation, a Lambda context; metrics/tracing off as in the local stack). "
        "The floor is the raw boto3 calls that operation needs for this key design (the *minimum* column above), "
        "with requests built beforehand (for writes: the service's exact TransactWriteItems, captured from the "
        "use case run over an in-memory copy) and sent with a bare client of the same configuration. Service and "
        "floor samples alternate, on fresh data for every write sample. `in DynamoDB` is the mean time the "
        "service's calls spent between botocore's `before-call` and `after-call` (signing, HTTP, parsing).")
    add("")
    add(f"![latency]({latency_png})")
    add("")
    add("| operation | n | p50 ms | p95 ms | p99 ms | floor p50 | floor p95 | floor p99 | **ratio p50** | in DynamoDB (mean) |")
    add("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for o in ops:
        s, f = o["service"], o["floor"]
        add(f"| {o['name']} | {s['n']} | {_fmt(s['p50'])} | {_fmt(s['p95'])} | {_fmt(s['p99'])} | {_fmt(f['p50'])} | "
            f"{_fmt(f['p95'])} | {_fmt(f['p99'])} | **{s['p50'] / f['p50']:.2f}×** | {_fmt(o['dynamodb_ms'])} |")
    add("")
    add("What the transaction itself costs here — DynamoDB Local's price per written item dominates every write "
        "figure (and the expiry throughput):")
    add("")
    add(f"![transaction cost]({txn_png})")
    add("")
    add("| items in the transaction | p50 ms | ms per grant (2 items) |")
    add("| ---: | ---: | ---: |")
    for r in results["txn_cost"]:
        add(f"| {r['items']} | {_fmt(r['p50'])} | {r['per_grant']:.1f} |")
    add("")

    # ---- scaling
    add("## Scaling")
    add("")
    add("### Grants on the customer (apply touching 1, balance)")
    add("")
    add("One customer per size: one priority-0 grant large enough for every invoice (the grant touched) and size−1 "
        "others the invoice never reaches.")
    add("")
    add(f"![customer scaling]({customer_png})")
    add("")
    add("| grants on the customer | apply p50 | apply p95 | apply calls | balance p50 | balance p95 | raw Query of the grants p50 |")
    add("| ---: | ---: | ---: | --- | ---: | ---: | ---: |")
    for r in cust:
        add(f"| {r['size']:,} | {_fmt(r['apply']['p50'])} | {_fmt(r['apply']['p95'])} | {_calls(r['apply_calls'])} | "
            f"{_fmt(r['balance']['p50'])} | {_fmt(r['balance']['p95'])} | {_fmt(r['query']['p50'])} |")
    add("")
    add(f"Apply grows {cust_ratio:.2f}× and balance {bal_cust_ratio:.1f}× from 1 to {cust[-1]['size']:,} grants. Apply "
        "reads one page of the customer's burn-down index (LSI1: spendable grants per currency / metric in burn-down "
        "order), so the grants it does not touch cost it nothing; balance reads the customer's balance aggregates "
        "(one Query of a few items, whatever its number of grants; the raw Query column is what reading every grant "
        "would cost). See [Misses and causes](#misses-and-causes).")
    add("")
    add("### Grants in the account (list page; balance of a fixed customer)")
    add("")
    add("One account grown step by step (grants written with BatchWriteItem of `store.items.grant_to_item` items, "
        f"about {_seed_rate(lst):,.0f} grants/s here). Largest size this run: **{lst[-1]['size']:,}**. Seeding "
        "100,000 would fit the budget, but on DynamoDB Local a list page there takes over a minute (its COUNT, see "
        "below), so the default stops lower; `BENCH_LIST_SIZES=10,100,1000,10000,100000` includes it.")
    add("")
    add(f"![list scaling]({list_png})")
    add("")
    add("| grants in the account | list page p50 | p95 | calls | floor (the 8 shard Queries at once) p50 | COUNT query alone p50 | balance (10 grants) p50 |")
    add("| ---: | ---: | ---: | --- | ---: | ---: | ---: |")
    for r in lst:
        add(f"| {r['size']:,} | {_fmt(r['list']['p50'])} | {_fmt(r['list']['p95'])} | {_calls(r['list_calls'])} | "
            f"{_fmt(r['floor']['p50'])} | {_fmt(r['count']['p50'])} | {_fmt(r['balance']['p50'])} |")
    add("")
    add(f"A list page is one Query per GSI1 shard, sent at once, each of about its share of limit+1 items (the "
        f"floor, the same raw Queries: {_fmt(lst[0]['floor']['p50'])} → "
        f"{_fmt(lst[-1]['floor']['p50'])} ms) and one BatchGetItem of the grant counters for `totalResultSize` "
        f"({_calls(lst[-1]['list_calls'])} at {lst[-1]['size']:,} grants), {list_ratio:.1f}× from the smallest to the "
        f"largest account (fitted growth {list_fit:.2f}×); the COUNT query column is what `totalResultSize` cost "
        f"before the counters (and still costs with a `status` filter). Balance is a partition Query and stays flat in table size: {_fmt(bal_range[0])}–{_fmt(bal_range[1])} ms "
        f"at every size without a trend (fitted growth {bal_fit:.2f}×; single points move by a few ms on DynamoDB "
        f"Local, as the fixed floor of the shards' raw Queries does: {_fmt(floor_range[0])}–{_fmt(floor_range[1])} ms).")
    add("")
    add("### Expiry sweep throughput")
    add("")
    add("`ExpiryService` over the DynamoDB adapter (4 shard threads, as the ExpiryFunction runs it) on exactly N due "
        "grants; before = one GetItem + one TransactWriteItems per grant, now = one BatchGetItem + one "
        "TransactWriteItems per 45 grants. The floor is the raw calls for "
        f"{results['expiry_floor']['n']:,} grants sent one after the other (shard queries, BatchGetItem and "
        "TransactWriteItems of 45).")
    add("")
    add(f"![expiry]({expiry_png})")
    add("")
    add("| due grants | grants per transaction | seconds | grants/s | calls |")
    add("| ---: | ---: | ---: | ---: | --- |")
    for r in exp:
        add(f"| {r['n']:,} | {r['batch']} | {r['seconds']:.2f} | **{r['rate']:.0f}** | {_calls(r['calls'])} |")
    fl = results["expiry_floor"]
    add(f"| {fl['n']:,} (floor: raw calls) | 45 | {fl['seconds']:.2f} | {fl['rate']:.0f} | {_calls(fl['calls'])} |")
    add("")

    # ---- contention
    add("## Contention: concurrent applications on one customer")
    add("")
    add(f"T threads apply invoices of 1.50 to one customer holding {cfg['contention grants']} grants of 1.00 until "
        "its credit is gone (every thread meets the others on the same first grants in burn-down order). Threads "
        "call `ApplicationService.apply` — what the handler calls — because the Powertools resolver holds the "
        "current event on the app object (Lambda runs one request per instance; concurrency means instances). "
        "Retries are the `ConcurrentUpdate`s raised by the conditional transaction (counted by wrapping the "
        "repository's `commit_application`).")
    add("")
    add(f"![contention]({contention_png})")
    add("")
    add("| threads | applications | seconds | applications/s | conflict retries | retries per application | answered 409 | spent / granted | over-spend | ledger consistent |")
    add("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | --- |")
    for r in results["contention"]:
        add(f"| {r['threads']} | {r['applications']} | {r['seconds']:.2f} | {r['throughput']:.1f} | {r['retries']} | "
            f"{r['retry_rate']:.2f} | {r['conflicts_409']} | {r['spent']} / {r['supply']} | {r['overspend']} | "
            f"{'yes' if r['consistent'] else '**NO**'} |")
    add("")
    add("Zero over-spend at every thread count: the credit spent equals the credit granted, no grant went below "
        "zero, and the pending amounts add up. Throughput does not rise with threads — every application "
        "conditions its write on the versions of the same few grants, so they serialize; extra threads only add "
        "retries.")
    add("")

    if results.get("consumption"):
        L.extend(consumption_section(results["consumption"]))

    # ---- cold start
    cold_run = results.get("cold_run") or {}
    add("## Cold start")
    add("")
    add("A fresh `python` process per handler module: import it (as Lambda's init phase does) and handle one "
        "request against DynamoDB Local, next to a fresh process doing `import boto3` + one client (and + one "
        f"GetItem), medians of {cold_run.get('repeats', cfg['cold-start repeats'])} interleaved rounds after one "
        "unmeasured round (.pyc compiled, page cache warm)." +
        (f" This section's figures: `make bench-cold` at {cold_run['started']}, load average {cold_run['load'][0]} at "
         f"its start and {cold_run['load'][1]} at its end." if cold_run else ""))
    add("")
    add(f"![cold start]({cold_png})")
    add("")
    add("The library floor is `bench/library_floor/app.py`: Powertools' Logger and Metrics around its validating "
        "resolver, one pydantic body model, one boto3 client and one GetItem, with no code of ours. The "
        "instruction column is one more process per kind under valgrind's cachegrind (`PYTHONHASHSEED=0`; first "
        "request and exit included): unlike the wall times, it does not move with the machine's load.")
    add("")
    floor_instructions = cold["boto3 + client"].get("instructions")
    add("| process | total ms | init (imports) ms | first request ms | ratio to boto3 + client | ratio to the library "
        "floor | instructions (× boto3 + client) |")
    add("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for k, v in cold.items():
        to_library = f"{v['process_ms'] / library_floor['process_ms']:.2f}×" if library_floor else "—"
        counted = (f"{v['instructions'] / 1e6:,.0f} M ({v['instructions'] / floor_instructions:.2f}×)"
                   if floor_instructions and "instructions" in v else "—")
        add(f"| {k} | {_fmt(v['process_ms'])} | {_fmt(v['init_ms'])} | {_fmt(v['request_ms'])} | "
            f"{v['process_ms'] / boto3_ms:.2f}× | {to_library} | {counted} |")
    add("")
    add("Slowest imports of `functions/apply/app.py` (`python -X importtime`, cumulative):")
    add("")
    add("| module | ms |")
    add("| --- | ---: |")
    for name, ms in results["imports"][:12]:
        add(f"| `{name}` | {ms:.0f} |")
    add("")
    sam = results.get("sam")
    if sam and "sizes" in sam:
        add(f"Sizes from `sam build` (built in {sam['seconds']:.0f} s; arm64 wheels):")
        add("")
        add("| artifact | unzipped | zipped |")
        add("| --- | ---: | ---: |")
        for name, s in sam["sizes"].items():
            add(f"| {name} | {s['bytes'] / 1024:,.0f} KiB | {s['zipped'] / 1024:,.0f} KiB |")
        add("")
    elif sam:
        add(f"`sam build` failed this run: `{sam['error']}`")
        add("")
    else:
        add("`sam build` sizes: skipped in this run (`BENCH_SAM_BUILD=1` to include).")
        add("")

    # ---- misses
    add("## Misses and causes")
    add("")
    missed = {"apply": apply_ratio > 1.5, "customer": cust_ratio > 1.2, "list": not list_flat or not balance_flat,
              "expiry": best_rate < 200, "cold": worst_cold > 1.3}
    add(misses_text(results, missed, apply_ratio, cust_ratio, list_fit, best_rate, worst_cold, boto3_ms))
    add("")
    if results.get("profiles"):
        add("### Profiles (pyinstrument)")
        add("")
        for p in results["profiles"]:
            add(f"- [{p['title']}]({p['path']}): {p['seconds']:.2f} s for {p['repeat']} call(s); most own time in: "
                + "; ".join(f"`{name}` {share:.0%}" for name, share in
                            [t for t in p["top"] if not t[0].startswith("[")][:4])
                + ("; time under " + ", ".join(f"`{k}` {v:.0%}" for k, v in p.get("focus", {}).items())
                   if p.get("focus") else ""))
        add("")
    OUT.write_text("\n".join(L) + "\n")
    return OUT


# ====================================================================== real-time consumption

CONSUMPTION_HEADING = "## Real-time consumption"
# Target rows of the consumption figures start with these (splice_consumption replaces them).
_CONSUMPTION_ROW_PREFIXES = ("| consumption", "| entitlement")


def _verdict(ok: bool) -> str:
    return "**met**" if ok else "**missed**"


def _consumption_figures(c: dict[str, Any]) -> dict[str, Any]:
    lat, ent, hot, batch = c["latency"], c["entitlement"], c["hot"], c["batch"]
    total = c["wcu"]["total"]
    per_item = [2 * math.ceil(max(1, s["bytes"]) / 1024) for s in c["item_sizes"]]
    aggregate = next((2 * math.ceil(max(1, s["bytes"]) / 1024) for s in c["item_sizes"] if s["entity"] == "BALANCE"), 2)
    grant = next((2 * math.ceil(max(1, s["bytes"]) / 1024) for s in c["item_sizes"] if s["entity"] == "GRANT"), 2)
    # On AWS a transactional write costs 2 WCU per KB of each item; the customer's items share a
    # partition key, so (until DynamoDB splits the partition by sort key) they share its ~1,000
    # WCU/s; after a split the single hottest item is the limit.
    # The customer's partition takes the grant, its entry and the aggregate (2 WCU per KB each,
    # transactional) and the grant's LSI1 row (as DynamoDB Local reports it: conservative).
    customer_items = sum(w for w, s in zip(per_item, c["item_sizes"]) if s["entity"] in ("GRANT", "LEDGER", "BALANCE"))
    customer_items += math.ceil(c["wcu"]["lsi"])
    return {
        "floor_ratio": lat["one"]["p50"] / lat["floor"]["p50"], "flat": lat["many"]["p50"] / lat["one"]["p50"],
        "ent_ratio": ent["one"]["p50"] / ent["getitem"]["p50"], "ent_flat": ent["many"]["p50"] / ent["one"]["p50"],
        "live_ratio": lat["live_one"]["p50"] / lat["live_floor"]["p50"],
        "live_ent_ratio": ent["live_one"]["p50"] / ent["getitem"]["p50"],
        "live_ent_query": ent["live_one"]["p50"] / ent["query"]["p50"] if "query" in ent else None,
        "live_ent_flat": ent["live_many"]["p50"] / ent["live_one"]["p50"],
        "hot_ratio": hot["rate"] / hot["floor_rate"], "batch_ratio": batch["batch_ms_each"] / batch["single_ms_each"],
        "aws_wcu": sum(per_item), "aws_customer_wcu": customer_items, "partition_cap": 1000 / max(1, customer_items),
        "item_cap": 1000 / max(aggregate, grant), "local_wcu": total,
    }


def consumption_rows(c: dict[str, Any]) -> list[str]:
    """The consumption figures' rows of the Targets table."""
    f = _consumption_figures(c)
    lat, ent, hot, batch = c["latency"], c["entitlement"], c["hot"], c["batch"]
    return [
        (f"| consumption ≤ 1.5× its floor at p50 | {_fmt(lat['one']['p50'])} ms vs floor {_fmt(lat['floor']['p50'])} ms "
        f"= **{f['floor_ratio']:.2f}×** | {_verdict(f['floor_ratio'] <= 1.5)} |"),
        (f"| consumption flat in grants (1 → {c['many']:,} within 1.2×) | {_fmt(lat['one']['p50'])} → "
        f"{_fmt(lat['many']['p50'])} ms = **{f['flat']:.2f}×** | {_verdict(f['flat'] <= 1.2)} |"),
        (f"| entitlement check ≤ 1.2× one GetItem | {_fmt(ent['one']['p50'])} ms vs {_fmt(ent['getitem']['p50'])} ms = "
        f"**{f['ent_ratio']:.2f}×** | {_verdict(f['ent_ratio'] <= 1.2)} |"),
        (f"| entitlement check flat in grants (1 → {c['many']:,} within 1.2×) | {_fmt(ent['one']['p50'])} → "
        f"{_fmt(ent['many']['p50'])} ms = **{f['ent_flat']:.2f}×** | {_verdict(f['ent_flat'] <= 1.2)} |"),
        (f"| consumption under {c['clients']} clients on one customer ≥ 0.5× the floor's rate (a conditional UpdateItem "
        f"loop on one item, {c['clients']} clients) | {hot['rate']:.1f} vs {hot['floor_rate']:.1f} /s = "
        f"**{f['hot_ratio']:.2f}×** | {_verdict(f['hot_ratio'] >= 0.5)} |"),
        (f"| consumption batch of 100 ≤ 1× single calls per consumption | {batch['batch_ms_each']:.1f} vs "
        f"{batch['single_ms_each']:.1f} ms each = **{f['batch_ratio']:.2f}×** | {_verdict(f['batch_ratio'] <= 1.0)} |"),
    ]


def consumption_section(c: dict[str, Any]) -> list[str]:
    f = _consumption_figures(c)
    lat, ent, hot, batch = c["latency"], c["entitlement"], c["hot"], c["batch"]
    L: list[str] = []
    add = L.append
    add(f"{CONSUMPTION_HEADING} (issue 20)")
    add("")
    run = f"Measured {c['started']}" if c.get("started") else "Measured in this run"
    load = f"; machine load (`uptime`) before: `{c['load'][0]}`, after: `{c['load'][1]}`" if c.get("load") else ""
    add(f"{run}{load}. `bench/consumption.py`, part of `make bench`; `make bench-consumption` re-runs only it and "
        "rewrites this section and its target rows. Samples of the things compared alternate (A, B, A, B…), so "
        "the machine's load moves them alike; absolute times are DynamoDB Local's.")
    add("")
    add("| figure | p50 ms | p95 ms | against | ratio | target |")
    add("| --- | ---: | ---: | --- | ---: | --- |")
    add(f"| consumption through ConsumeFunction, 1 grant ({lat['one']['n']} samples) | {_fmt(lat['one']['p50'])} | "
        f"{_fmt(lat['one']['p95'])} | floor: its raw calls, {_fmt(lat['floor']['p50'])} ms (p95 {_fmt(lat['floor']['p95'])}) | "
        f"**{f['floor_ratio']:.2f}×** | ≤ 1.5×: {_verdict(f['floor_ratio'] <= 1.5)} |")
    add(f"| the same, {c['many']:,} grants on the customer | {_fmt(lat['many']['p50'])} | {_fmt(lat['many']['p95'])} | "
        f"1 grant | **{f['flat']:.2f}×** | ≤ 1.2×: {_verdict(f['flat'] <= 1.2)} |")
    add(f"| entitlement check through ListFunction, 1 grant | {_fmt(ent['one']['p50'])} | {_fmt(ent['one']['p95'])} | "
        f"one GetItem of the aggregate, {_fmt(ent['getitem']['p50'])} ms | **{f['ent_ratio']:.2f}×** | ≤ 1.2×: "
        f"{_verdict(f['ent_ratio'] <= 1.2)} |")
    add(f"| the same, {c['many']:,} grants | {_fmt(ent['many']['p50'])} | {_fmt(ent['many']['p95'])} | 1 grant | "
        f"**{f['ent_flat']:.2f}×** | ≤ 1.2×: {_verdict(f['ent_flat'] <= 1.2)} |")
    add(f"| live mode: consumption (ConsumptionService, no test-clock read), 1 grant | {_fmt(lat['live_one']['p50'])} | "
        f"{_fmt(lat['live_one']['p95'])} | its raw calls, {_fmt(lat['live_floor']['p50'])} ms | "
        f"**{f['live_ratio']:.2f}×** | ≤ 1.5×: {_verdict(f['live_ratio'] <= 1.5)} |")
    add(f"| live mode: entitlement check (the service), 1 grant | {_fmt(ent['live_one']['p50'])} | "
        f"{_fmt(ent['live_one']['p95'])} | one GetItem, {_fmt(ent['getitem']['p50'])} ms | **{f['live_ent_ratio']:.2f}×** | "
        f"≤ 1.2×: {_verdict(f['live_ent_ratio'] <= 1.2)} |")
    if f["live_ent_query"] is not None:
        add(f"| (reference) the raw Query of the customer's aggregates that the check makes | {_fmt(ent['query']['p50'])} | "
            f"{_fmt(ent['query']['p95'])} | one GetItem, {_fmt(ent['getitem']['p50'])} ms | "
            f"{ent['query']['p50'] / ent['getitem']['p50']:.2f}× | the live check is {f['live_ent_query']:.2f}× it |")
    add(f"| live mode: the same, {c['many']:,} grants | {_fmt(ent['live_many']['p50'])} | {_fmt(ent['live_many']['p95'])} | "
        f"1 grant | **{f['live_ent_flat']:.2f}×** | ≤ 1.2×: {_verdict(f['live_ent_flat'] <= 1.2)} |")
    add("")
    add(f"Calls of one consumption through the handler: {_calls(c['calls'])} with 1 grant, {_calls(c['calls_many'])} "
        f"with {c['many']:,} (the burn-down reads a first LSI1 page of {c['first_page']} grants). The floor makes the "
        f"same calls raw — the GetItem of the customer's test-clock membership (a test-mode stack, `Livemode` false, "
        f"as the local stack and this bench run; a live one skips it), one LSI1 Query, the consumption's own "
        f"{c['txn_items']}-item TransactWriteItems replayed on fresh keys, one BatchGetItem of the aggregate. The "
        f"entitlement check through ListFunction makes {_calls(c['calls_entitlement'])}: in test mode it reads the "
        "membership too, so it is two calls against the one GetItem of the target; a live deployment makes the one "
        "Query of the customer's aggregates (the live-mode rows, measured on the service). Why the check misses "
        "≤ 1.2× a GetItem even live: it must be a Query (which CASH currencies may pay for the metric is not "
        "known before reading), and on DynamoDB Local a Query of those few items costs more than a GetItem "
        "(the reference row); on AWS both are one strongly consistent read of one partition, 1 RCU for these "
        "items (not measured here). Folding the test-clock membership into the same Query (`SK BETWEEN "
        "BALANCE# AND CLOCK`, the membership's sort key) would make the test-mode check one call too; not "
        "built (it needs a key helper in store/keys.py).")
    add("")
    add(f"**One customer, {c['clients']} concurrent clients** ({hot['consumptions']} consumptions of 1 unit on one "
        f"grant): **{hot['rate']:.1f} consumptions/s** ({hot['conflicts']} lost transactions retried; every unit "
        f"accounted for) against the floor of {c['clients']} clients looping GetItem + conditional UpdateItem on one "
        f"item: {hot['floor_rate']:.1f} updates/s ({hot['floor_retries']} lost conditions) — **{f['hot_ratio']:.2f}×**, "
        f"target ≥ 0.5× (set here; the issue asks for the figure): {_verdict(f['hot_ratio'] >= 0.5)}. Every "
        "consumption of one balance writes the same grant and aggregate items, so concurrent ones serialize as the "
        "floor's do; a lost one re-reads after a jittered pause (services/retry.py), which the floor does not take. "
        "The gap is the length of the read-decide-write window: the floor's is one GetItem and one small "
        "UpdateItem, a consumption's an LSI1 Query, the burn-down and a 4-item transaction conditioned on the "
        "grant's version, so with 32 clients most attempts lose to one that committed meanwhile (the lost "
        "transactions above). What would close it (not built): a consumption drawing on one grant could write it "
        "with a condition on its balance (`currentBalance >= :amount`, ADD) instead of its version, so concurrent "
        "consumptions of a well-funded grant commute instead of conflicting; beyond one item's rate, the sharded "
        "buckets of README \"A hot customer\".")
    add("")
    sizes = ", ".join(f"{s['entity'].lower()} {s['bytes']:,} B" for s in c["item_sizes"])
    add(f"**Write units per consumption** (ReturnConsumedCapacity=INDEXES on its transaction, DynamoDB Local): "
        f"{f['local_wcu']:.0f} WCU (table {c['wcu']['table']:.0f}, LSI {c['wcu']['lsi']:.0f}, GSI "
        f"{c['wcu']['gsi']:.0f}). Its items: {sizes}. On AWS a transactional write costs 2 WCU per KB of each item: "
        f"**{f['aws_wcu']} WCU** for the transaction, plus its index rows (the grant's LSI1 row, the entry's GSI1 row "
        f"on the account's ledger partition); **≈{f['aws_customer_wcu']} WCU on the customer's partition** (grant, "
        "entry, aggregate and the LSI1 row). Ceilings this implies (≈1,000 WCU/s per partition and per "
        f"item): **≈{f['partition_cap']:.0f} consumptions/s per customer** while its items share one partition; "
        f"≈{f['item_cap']:.0f}/s once DynamoDB has split the partition by sort key (the grant being burned and the "
        "balance's aggregate are single items written by every consumption). How they are raised: README, \"A hot "
        "customer\".")
    add("")
    add(f"**Batch of 100** through `POST /credit-consumptions/batch` against 100 single `POST /credit-consumptions` "
        f"(median of {batch['rounds']} alternating rounds): {batch['batch_ms_each']:.1f} ms per consumption vs "
        f"{batch['single_ms_each']:.1f} ms — **{f['batch_ratio']:.2f}×**, target ≤ 1× (set here): "
        f"{_verdict(f['batch_ratio'] <= 1.0)}. The batch saves the per-request work (event parsing, routing, "
        "validation of the envelope) and on AWS 99 HTTP round trips; each item is still its own read-decide-write "
        "(one transaction each, answered on its own).")
    add("")
    return L


def splice_consumption(c: dict[str, Any]) -> Path:
    """Put this consumption run's section and target rows into BENCHMARKS.md, the rest kept."""
    text = OUT.read_text() if OUT.exists() else "# Benchmarks\n\n## Targets\n\n| target | result | |\n| --- | --- | --- |\n"
    lines = [l for l in text.split("\n") if not l.startswith(_CONSUMPTION_ROW_PREFIXES)]
    # The Targets table: its rows end at the first blank line after its header.
    head = lines.index("## Targets")
    start = next(i for i in range(head, len(lines)) if lines[i].startswith("| ---"))
    end = next((i for i in range(start, len(lines)) if not lines[i].startswith("|")), len(lines))
    lines[end:end] = consumption_rows(c)
    # The section: from its heading to the next "## " heading (or the end).
    at = next((i for i, l in enumerate(lines) if l.startswith(CONSUMPTION_HEADING)), None)
    if at is None:
        lines += [""] + consumption_section(c)
    else:
        stop = next((i for i in range(at + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
        lines[at:stop] = consumption_section(c)
    OUT.write_text("\n".join(lines).rstrip("\n") + "\n")
    return OUT


def _seed_rate(rows: list[dict[str, Any]]) -> float:
    last = rows[-1]
    previous = rows[-2]["size"] if len(rows) > 1 else 0
    return (last["size"] - previous) / max(0.001, last["seed_s"])


def misses_text(results: dict[str, Any], missed: dict[str, bool], apply_ratio: float, cust_ratio: float, list_ratio: float,
                best_rate: float, worst_cold: float, boto3_ms: float) -> str:
    path = Path(__file__).with_name("MISSES.md")
    template = path.read_text() if path.exists() else ""
    values = {"apply_ratio": f"{apply_ratio:.2f}", "cust_ratio": f"{cust_ratio:.2f}", "list_ratio": f"{list_ratio:.2f}",
              "best_rate": f"{best_rate:.0f}", "worst_cold": f"{worst_cold:.2f}", "boto3_ms": f"{boto3_ms:.0f}",
              "floor_rate": f"{results['expiry_floor']['rate']:.0f}",
              "txn45": f"{results['txn_cost'][-1]['per_grant']:.1f}"}
    prof = next((p for p in results.get("profiles") or [] if p["name"] == "apply_warm"), None)
    share = sum(v for k, v in (prof or {}).get("focus", {}).items() if "get_application" in k)
    values["apply_getitem_share"] = f"{share:.0%}" if prof else "(profile not run)"
    cold = results["cold"]
    library = cold.get("library floor")
    handlers = {k: v for k, v in cold.items() if not k.startswith(("boto3", "library floor"))}
    _, _, key = cold_ratios(cold, handlers)
    values["cold_measure"] = "in instructions" if key == "instructions" else "in wall time"
    values["library_ratio"] = f"{library[key] / cold['boto3 + client'][key]:.2f}" if library else "(not measured)"
    values["worst_to_library"] = (f"{max(v[key] for v in handlers.values()) / library[key]:.2f}" if library
                                  else "(not measured)")
    imports = dict(results.get("imports") or [])
    values["xray_ms"] = f"{imports.get('aws_xray_sdk.core', 0):.0f}"
    list_op = next((o for o in results["ops"] if o["name"].startswith("list page")), None)
    if list_op:
        cu = sum(list_op["capacity"].values())
        values["list_cu"] = f"{cu:.1f}"
        values["list_cu_100k"] = f"{cu * 100000 / 200:,.0f}"
    for k, v in values.items():
        template = template.replace("{" + k + "}", v)
    # Paragraphs start with [target] (shown when that target is missed) or [target:met] (when met).
    out = []
    for paragraph in template.split("\n\n"):
        paragraph = paragraph.strip()
        if not paragraph or paragraph.startswith("<!--"):
            continue
        if paragraph.startswith("["):
            tag, _, body = paragraph.partition("]")
            key, _, state = tag[1:].partition(":")
            if missed.get(key, True) != (state != "met"):
                continue
            paragraph = body.strip()
        out.append(paragraph)
    return "\n\n".join(out)


if __name__ == "__main__":  # re-render BENCHMARKS.md and the plots from the last run's results.json
    data = json.loads((PLOTS / "results.json").read_text())
    print(write(data))
