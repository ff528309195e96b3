"""python -m bench: every figure in one run on one DynamoDB Local → BENCHMARKS.md + bench/plots/."""

from __future__ import annotations

import json
import platform
import sys
import time
from datetime import UTC, datetime, timedelta

from bench import config


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def main() -> None:
    from bench.harness import ROOT, Env, api_event, make_grant, seed

    started = time.monotonic()
    log(f"bench: {'QUICK ' if config.QUICK else ''}run, sizes {json.dumps(config.describe())}")
    env = Env()
    results: dict = {"config": config.describe(), "started": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
                     "machine": f"{platform.machine()}, {__import__('os').cpu_count()} cores, Python "
                                f"{platform.python_version()}, {platform.system()}"}
    try:
        # JVM warm-up: DynamoDB Local's first thousand calls are much slower (JIT).
        log("warm-up")
        from bench.ops import build_ops, run_ops
        from bench.scaling import customer_scaling, expiry_floor, expiry_scaling, list_scaling, transaction_cost

        seed(env.raw, [make_grant("acct_warm", "cus_warm", amount="1000000.00")], ref=False)
        for i in range(30 if config.QUICK else 150):
            env.invoke("ApplyFunction", api_event("POST", "/credit-applications", account="acct_warm", body={
                "invoiceId": f"inv_warm_{i}", "customerId": "cus_warm", "currency": "USD",
                "lines": [{"lineId": "l1", "amount": "0.01"}]}))
            env.invoke("ListFunction", api_event("GET", "/credit-grants", account="acct_warm"))

        log("operations: seeding")
        t = time.monotonic()
        ops = build_ops(env)
        log(f"  seeded in {time.monotonic() - t:.0f} s; measuring")
        run_ops(env, ops, log)
        results["ops"] = [{"name": o.name, "minimum": o.minimum, "minimum_calls": o.minimum_calls, "extra": o.extra,
                           **{k: v for k, v in o.results.items() if k not in ("timed_part", "service_raw")}}
                          for o in ops]
        results["ops_raw"] = {o.name: o.results["service_raw"] for o in ops}

        log("transaction cost by size")
        results["txn_cost"] = transaction_cost(env, log)
        log("scaling: grants on the customer")
        results["customer"] = customer_scaling(env, log)
        log("scaling: expiry")
        results["expiry"] = expiry_scaling(env, log)
        results["expiry_floor"] = expiry_floor(env, log)
        log("contention")
        from bench.contention import contention

        results["contention"] = contention(env, log)
        log("real-time consumption")
        from bench.consumption import consumption

        results["consumption"] = consumption(env, log)
        log("scaling: grants in the account (list pages)")
        results["list"] = list_scaling(env, log)

        log("cold starts")
        from bench.coldstart import cold_starts, import_profile, sam_sizes

        results["cold"] = cold_starts(env, log)
        results["imports"] = import_profile(str(ROOT / "functions" / "apply"))
        if config.PROFILE:
            log("profiles")
            results["profiles"] = profiles(env)
        if config.SAM_BUILD:
            log("sam build")
            try:
                results["sam"] = sam_sizes(log)
            except Exception as exc:  # noqa: BLE001 - reported, the other figures still stand
                results["sam"] = {"error": str(exc)[-500:]}
                log(f"  sam build failed: {exc}")
    finally:
        env.stop()
    results["elapsed_s"] = time.monotonic() - started
    from bench.report import write

    path = write(results)
    log(f"wrote {path} in {results['elapsed_s']:.0f} s")


def profiles(env) -> list[dict]:
    """pyinstrument on the figures that miss (or may miss) a target."""
    from credits import container
    from credits.domain.clock import utcnow
    from credits.services.expiry import ExpiryService
    from credits.store.sweeps import DynamoSweepStore

    from bench.harness import api_event, make_grant, seed
    from bench.profiling import profile

    out = []
    seed(env.raw, [make_grant("acct_prof", "cus_prof", amount="1000000.00")], ref=False)
    counter = iter(range(10**9))
    out.append(profile("apply_warm", lambda: env.invoke("ApplyFunction", api_event(
        "POST", "/credit-applications", account="acct_prof", body={
            "invoiceId": f"inv_prof_{next(counter)}", "customerId": "cus_prof", "currency": "USD",
            "lines": [{"lineId": "l1", "amount": "0.01"}]})), 40, "apply touching 1 grant, warm, through ApplyFunction",
        focus=("DynamoRepository.get_application", "get_application", "DynamoRepository.customer_grants",
               "customer_grants", "DynamoRepository.transact", "transact")))
    biggest = max(config.CUSTOMER_SIZES)
    out.append(profile(f"balance_{biggest}", lambda: env.invoke("ListFunction", api_event(
        "GET", f"/customers/cus_scale_{biggest}/credit-balance", account="acct_scale")), 10,
        f"balance of a customer with {biggest:,} grants, through ListFunction"))
    out.append(profile("list_page_largest", lambda: env.invoke("ListFunction", api_event(
        "GET", "/credit-grants", account="acct_list", query={"limit": "20"})), 2,
        f"list page (limit 20) of the account with {max(config.LIST_SIZES):,} grants"))
    now = utcnow()
    n = 300 if not config.QUICK else 50
    due = [make_grant("acct_prof_exp", f"cus_{i % 20}", expires_at=now - timedelta(hours=1),
                      created=now - timedelta(days=40), n=i) for i in range(n)]
    seed(env.raw, due, ref=False)
    service = ExpiryService(DynamoSweepStore(container.repository()), lead=timedelta(days=7), workers=1)
    out.append(profile("expiry_sweep", service.run, 1, f"expiry sweep of {n} due grants (batched, one thread)"))
    return out


if __name__ == "__main__":
    main()
