"""Time-ordered identifiers (ULID layout: 48-bit milliseconds + 80 random bits, Crockford base32).

Sorting ids sorts by creation time, so a key ending in an id lists newest or oldest first."""

from __future__ import annotations

import os
import threading
import time
from datetime import datetime

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_lock = threading.Lock()
_last = [0, 0]  # (ms, random) of the last id, to stay monotonic within one millisecond


def _encode(value: int, length: int) -> str:
    out = []
    for _ in range(length):
        value, rem = divmod(value, 32)
        out.append(_ALPHABET[rem])
    return "".join(reversed(out))


def ulid(ms: int | None = None) -> str:
    with _lock:
        now = int(time.time() * 1000) if ms is None else ms
        rand = int.from_bytes(os.urandom(10), "big")
        if ms is None and now <= _last[0]:
            now, rand = _last[0], _last[1] + 1
        if ms is None:
            _last[0], _last[1] = now, rand
    return _encode(now, 10) + _encode(rand & ((1 << 80) - 1), 16)


def ulid_at(ms: int) -> str:
    """An id of instant `ms` minted now: the random part starts with the real milliseconds, so
    ids of one instant (a test clock's frozen time) still sort in the order they were made."""
    real = int(time.time() * 1000) & ((1 << 48) - 1)
    rand = (real << 32) | int.from_bytes(os.urandom(4), "big")
    return _encode(max(0, min(ms, (1 << 48) - 1)), 10) + _encode(rand, 16)


def ulid_floor(ms: int) -> str:
    """The smallest id of a given millisecond (for time-range key conditions)."""
    return _encode(ms, 10) + "0" * 16


def new_grant_id() -> str:
    return f"cg_{ulid()}"


def new_entry_id(at: datetime | None = None) -> str:
    """A ledger entry id, time-ordered by the real time; `at`: by that instant (a test clock's)."""
    return f"cbtxn_{ulid() if at is None else ulid_at(int(at.timestamp() * 1000))}"


def new_schedule_id() -> str:
    return f"cgs_{ulid()}"


def new_test_clock_id() -> str:
    return f"clock_{ulid()}"


def new_tax_rate_id() -> str:
    return f"txr_{ulid()}"


def new_alert_id() -> str:
    return f"cba_{ulid()}"


def new_top_up_rule_id() -> str:
    return f"ctr_{ulid()}"


def new_api_key_id() -> str:
    return f"key_{ulid()}"
