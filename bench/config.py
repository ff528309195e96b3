"""Sizes of a run, from the environment (BENCH_QUICK=1: a smoke run in well under 2 minutes)."""

from __future__ import annotations

import os


def _flag(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    return default if value is None else value.lower() in ("1", "true", "yes", "on")


def _ints(name: str, default: list[int]) -> list[int]:
    value = os.environ.get(name)
    return [int(v) for v in value.replace(" ", "").split(",") if v] if value else default


def _int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value else default


QUICK = _flag("BENCH_QUICK", False)

# Warm latency: samples per operation (apply touching 150 grants is ~5 transactions: fewer).
SAMPLES = _int("BENCH_SAMPLES", 8 if QUICK else 80)
SAMPLES_BIG = _int("BENCH_SAMPLES_BIG", 2 if QUICK else 12)
WARMUP = _int("BENCH_WARMUP", 3 if QUICK else 20)

# Scaling.
CUSTOMER_SIZES = _ints("BENCH_CUSTOMER_SIZES", [1, 10, 100] if QUICK else [1, 10, 100, 1000])
SCALE_SAMPLES = _int("BENCH_SCALE_SAMPLES", 5 if QUICK else 30)
LIST_SIZES = _ints("BENCH_LIST_SIZES", [10, 100, 1000] if QUICK else [10, 100, 1000, 10000, 30000])
EXPIRY_SIZES = _ints("BENCH_EXPIRY_SIZES", [100] if QUICK else [100, 1000, 3000])
EXPIRY_UNBATCHED_SIZES = _ints("BENCH_EXPIRY_UNBATCHED_SIZES", [50] if QUICK else [100, 500])
EXPIRY_FLOOR_SIZE = _int("BENCH_EXPIRY_FLOOR_SIZE", 100 if QUICK else 1000)

# Contention: threads applying on one customer until its credit is gone.
THREADS = _ints("BENCH_THREADS", [4, 8] if QUICK else [4, 8, 16])
CONTENTION_GRANTS = _int("BENCH_CONTENTION_GRANTS", 24 if QUICK else 90)

# Cold start: fresh processes per handler module.
COLD_REPEATS = _int("BENCH_COLD_REPEATS", 1 if QUICK else 5)
# ... and one more per kind under valgrind, counting instructions (where valgrind is installed).
COLD_INSTRUCTIONS = _flag("BENCH_COLD_INSTRUCTIONS", not QUICK)
SAM_BUILD = _flag("BENCH_SAM_BUILD", not QUICK)
PROFILE = _flag("BENCH_PROFILE", not QUICK)


def describe() -> dict[str, object]:
    return {
        "quick": QUICK, "samples": SAMPLES, "samples (apply 150 / release)": SAMPLES_BIG, "warm-up calls": WARMUP,
        "grants on the customer": CUSTOMER_SIZES, "scaling samples": SCALE_SAMPLES,
        "grants in the account (list)": LIST_SIZES, "due grants (expiry, batched)": EXPIRY_SIZES,
        "due grants (expiry, one transaction per grant)": EXPIRY_UNBATCHED_SIZES,
        "expiry floor size": EXPIRY_FLOOR_SIZE, "threads": THREADS, "contention grants": CONTENTION_GRANTS,
        "cold-start repeats": COLD_REPEATS,
        "cold-start instruction counts": COLD_INSTRUCTIONS, "sam build": SAM_BUILD, "pyinstrument profiles": PROFILE,
    }
