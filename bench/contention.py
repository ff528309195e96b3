"""Concurrent applications on one customer: T threads apply invoices until the customer's credit
is gone. Throughput, conflict retries (ConcurrentUpdate from the conditional writes, counted by
wrapping the repository) and a check that exactly the granted credit was spent — never more.

Threads call ApplicationService directly (the same call the handler makes): the Powertools
resolver keeps the current event on the app object, so it is one request at a time per process —
as in Lambda, where concurrency means more instances, all meeting in the same table."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from bench import config
from bench.harness import Env, make_grant, seed

INVOICE = Decimal("1.50")


def contention(env: Env, log: Callable[[str], None]) -> list[dict[str, Any]]:
    from credits import container
    from credits.api.views import application_view
    from credits.domain.errors import ConcurrentUpdate, Conflict
    from credits.models.api import ApplyRequest

    service = container.application_service()
    repo = service.repo
    original = repo.commit_application
    lock = threading.Lock()
    counts = {"retries": 0}

    def counting_commit(*args: Any, **kwargs: Any) -> None:
        try:
            original(*args, **kwargs)
        except ConcurrentUpdate:
            with lock:
                counts["retries"] += 1
            raise

    repo.commit_application = counting_commit  # instance attribute: the service's repository only
    rows = []
    try:
        for threads in config.THREADS:
            account, customer = "acct_contention", f"cus_hot_{threads}"
            grants = [make_grant(account, customer, amount="1.00", n=i) for i in range(config.CONTENTION_GRANTS)]
            seed(env.raw, grants, ref=False)
            supply = Decimal(config.CONTENTION_GRANTS)
            counts["retries"] = 0
            applied: list[Decimal] = []
            conflicts = [0]
            sequence = iter(range(10**9))
            barrier = threading.Barrier(threads)

            def worker() -> None:
                barrier.wait()
                while True:
                    with lock:
                        invoice = f"inv_{customer}_{next(sequence)}"
                    request = ApplyRequest.model_validate({"invoiceId": invoice, "customerId": customer, "currency": "USD",
                                                           "lines": [{"lineId": "l1", "amount": str(INVOICE)}]})
                    try:
                        application, _ = service.apply(account, request)
                    except Conflict:
                        with lock:
                            conflicts[0] += 1
                        continue
                    credit = Decimal(application_view(application).creditsApplied)
                    with lock:
                        applied.append(credit)
                    if credit == 0:  # the customer's credit is gone
                        return

            pool = [threading.Thread(target=worker) for _ in range(threads)]
            started = time.perf_counter()
            for t in pool:
                t.start()
            for t in pool:
                t.join()
            elapsed = time.perf_counter() - started
            spent = sum(applied, Decimal(0))
            remaining = [g for g in repo.customer_grants(account, customer)]
            balances = sum((g.current_balance for g in remaining), Decimal(0))
            pending = sum((g.pending_amount for g in remaining), Decimal(0))
            with_credit = sum(1 for a in applied if a > 0)
            row = {"threads": threads, "applications": with_credit, "seconds": elapsed,
                   "throughput": with_credit / elapsed, "retries": counts["retries"],
                   "retry_rate": counts["retries"] / max(1, with_credit), "conflicts_409": conflicts[0],
                   "supply": str(supply), "spent": str(spent), "overspend": str(spent - supply),
                   "negative_grants": sum(1 for g in remaining if g.current_balance < 0),
                   "consistent": spent == supply and balances == 0 and pending == supply}
            rows.append(row)
            log(f"  {threads:2d} threads: {with_credit} applications in {elapsed:.2f} s = {row['throughput']:.1f}/s, "
                f"{counts['retries']} conflict retries ({row['retry_rate']:.2f} per application), "
                f"{conflicts[0]} answered 409, spent {spent} of {supply}, consistent={row['consistent']}")
    finally:
        del repo.commit_application
        from credits.telemetry import metrics

        metrics.clear_metrics()  # direct calls add metrics that no handler flushes
    return rows
