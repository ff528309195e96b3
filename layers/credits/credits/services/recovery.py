"""The scheduled run finishes what callers left half-done: chunked applications (and chunked
settles / releases) whose caller died between chunks.

Such an application sits on a sparse index queue (GSI2 `UNFINISHED#shard`, store/keys.py) only
while its status is COMMITTING, SETTLING or RELEASING, so the run reads exactly those, never a
Scan. Each is rolled *forward* (ApplicationService.finish): the request was validated and partly
committed, its APPLIED entries are already published, and a repeat of the same request would
finish it the same way — so the service does what that repeat would do. Rolling back would
instead publish releases for credits the caller asked to apply, and a later repeat of the
request would apply them again.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from credits.domain.actors import acting_as
from credits.domain.clock import utcnow
from credits.services.applications import ApplicationService
from credits.services.ports import UnfinishedStore
from credits.telemetry import logger


class RecoveryService:
    def __init__(self, store: UnfinishedStore, applications: ApplicationService, *, grace: timedelta,
                 clock: Callable[[], datetime] = utcnow, reserve_ms: int = 10_000):
        self.store = store
        self.applications = applications
        self.grace = grace
        self.clock = clock
        # Stop while this much Lambda time is left (what is left stays queued for the next run).
        self.reserve_ms = reserve_ms

    def run(self, remaining_ms: Callable[[], int] | None = None) -> dict[str, int]:
        """Finish every application left unfinished for longer than the grace. One that fails (a
        dependency fault) stays on the queue for the next run; the others go on."""
        summary = {"finished": 0, "failed": 0}
        until = self.clock() - self.grace
        for shard in range(self.store.shards):
            for key in self.store.due_keys("UNFINISHED", shard, until):
                if remaining_ms is not None and remaining_ms() < self.reserve_ms:
                    logger.warning("unfinished applications left for the next run: out of time")
                    return summary
                try:
                    app = self.store.read_application(key)
                    if app is not None:
                        with acting_as(app.actor):  # its entries name who made the request
                            self.applications.finish(app.account_id, app.invoice_id)
                        summary["finished"] += 1
                except Exception:  # noqa: BLE001 - the next run retries it
                    logger.exception("could not finish an application", extra={"key": key[0]})
                    summary["failed"] += 1
        return summary
