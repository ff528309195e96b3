"""The recovery run (services/recovery.py) over a fake queue: finished, failed (left for the next
run), gone, out of time, and only what is older than the grace."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

from credits.services.recovery import RecoveryService

NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)


class Queue:
    shards = 2

    def __init__(self, apps: dict[tuple[str, str], object]):
        self.apps = apps
        self.asked: list[tuple[str, int, datetime]] = []

    def due_keys(self, queue, shard, until):
        self.asked.append((queue, shard, until))
        return iter(sorted(self.apps) if shard == 0 else [])

    def read_application(self, key):
        return self.apps[key]


class Applications:
    def __init__(self, failing: set[str] = frozenset()):
        self.failing = failing
        self.finished: list[tuple[str, str]] = []

    def finish(self, account_id: str, invoice_id: str) -> str:
        if invoice_id in self.failing:
            raise RuntimeError("throttled")
        self.finished.append((account_id, invoice_id))
        return "PENDING"


def app(invoice: str) -> SimpleNamespace:
    return SimpleNamespace(account_id="acct", invoice_id=invoice, actor=None)


def test_finishes_each_queued_application_and_counts_failures_for_the_next_run():
    queue = Queue({("A#1", "APP#a"): app("a"), ("A#1", "APP#b"): app("b"), ("A#1", "APP#c"): None})
    applications = Applications(failing={"b"})
    summary = RecoveryService(queue, applications, grace=timedelta(minutes=1), clock=lambda: NOW).run()
    assert summary == {"finished": 1, "failed": 1}
    assert applications.finished == [("acct", "a")]
    # Every shard of the UNFINISHED queue, up to now - grace.
    assert queue.asked == [("UNFINISHED", 0, NOW - timedelta(minutes=1)), ("UNFINISHED", 1, NOW - timedelta(minutes=1))]


def test_stops_when_the_run_is_short_of_time():
    queue = Queue({("A#1", "APP#a"): app("a")})
    applications = Applications()
    summary = RecoveryService(queue, applications, grace=timedelta(0), clock=lambda: NOW).run(remaining_ms=lambda: 5_000)
    assert summary == {"finished": 0, "failed": 0} and applications.finished == []
