"""The one read-decide-write loop: a use case reads, decides with the pure domain and writes
conditioned on what it read; a write that lost to another request is retried after a jittered
pause, a bounded number of times, and then answered 409 with Retry-After (never lost, never applied twice)."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

from credits.domain.errors import ConcurrentUpdate, RetryableConflict

T = TypeVar("T")


def backoff(attempt: int) -> None:
    """Jittered exponential pause before re-reading after a lost conditional write."""
    time.sleep(random.uniform(0, min(0.05, 0.002 * 2**attempt)))


def with_retries(action: Callable[[], T], attempts: int,
                 busy: str = "the grant is being changed by another request; retry") -> T:
    """Run a read-decide-write action until its conditional write wins (bounded, with jitter);
    a write that keeps losing is answered 409 with Retry-After, never lost."""
    for attempt in range(attempts):
        try:
            return action()
        except ConcurrentUpdate:
            backoff(attempt)
    raise RetryableConflict(busy)
