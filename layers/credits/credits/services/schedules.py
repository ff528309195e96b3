"""Recurring grants: the use cases (create, get, list, cancel, run what is due).

Exactly one grant per schedule and period: each period's grant is written in the same
DynamoDB transaction that advances the schedule's `nextIndex`, conditioned on the index that
was read, and the grant's id is derived from (schedule, period) with `attribute_not_exists`
(domain/schedule_rules.py). Two runs at once, or a run retried after a crash, can therefore
never grant a period twice.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from credits.domain import periods
from credits.domain.actors import current_actor
from credits.domain.clock import now_of, reading, utcnow
from credits.domain.errors import ConcurrentUpdate, InvalidRequest, NotFound
from credits.domain.records import Page, ScheduleRecord
from credits.domain.schedule_rules import new_schedule, period_grant, plan
from credits.models.api import CreateScheduleRequest
from credits.services.retry import with_retries
from credits.telemetry import logger

# Time left for the last transaction and the response when a run stops at its deadline.
RUN_SAFETY_MARGIN_SECONDS = 10.0

# A time.monotonic() instant (never money: amounts are Decimal everywhere).
MonotonicInstant = float


# ====================================================================== use cases


@dataclass
class RunSummary:
    schedules: int = 0  # due schedules looked at
    granted: int = 0  # grants made
    skipped: int = 0  # periods skipped because their grant would already have expired
    conflicts: int = 0  # lost races (another run did the work)
    failed: int = 0  # schedules that raised (logged; retried on the next run)
    incomplete: bool = False  # stopped at the deadline; the next run continues

    def as_dict(self) -> dict[str, Any]:
        return {"schedules": self.schedules, "granted": self.granted, "skipped": self.skipped,
                "conflicts": self.conflicts, "failed": self.failed, "incomplete": self.incomplete}


class ScheduleService:
    def __init__(self, store, *, clock: Callable[[], datetime] = utcnow, attempts: int = 5):
        self.store = store  # store.schedules_store.ScheduleStore
        self.clock = clock
        self.attempts = attempts

    def create(self, account_id: str, body: CreateScheduleRequest) -> ScheduleRecord:
        now, test_clock_id = reading(self.clock, account_id, body.customerId)  # a test clock's time
        schedule = new_schedule(account_id, body, now).evolve(test_clock_id=test_clock_id)
        self.store.put_new(schedule)
        return schedule

    def get(self, account_id: str, schedule_id: str) -> ScheduleRecord:
        schedule = self.store.get(account_id, schedule_id)
        if schedule is None:
            raise NotFound(f"credit grant schedule {schedule_id} not found", field="scheduleId")
        return schedule

    def list(self, account_id: str, *, customer_id: str | None = None, limit: int = 20, after: str | None = None,
             before: str | None = None) -> Page:
        if after and before:
            raise InvalidRequest("give after or before, not both", field="before")
        return self.store.list(account_id, customer_id=customer_id, limit=limit, after=after, before=before)

    def cancel(self, account_id: str, schedule_id: str) -> ScheduleRecord:
        """No further grants (the schedule leaves the due index); the grants made stay.
        Canceling twice returns the canceled schedule unchanged."""
        def attempt() -> ScheduleRecord:
            schedule = self.get(account_id, schedule_id)
            if schedule.status == "CANCELED":
                return schedule
            now = now_of(self.clock, schedule)
            canceled = schedule.evolve(status="CANCELED", canceled_at=now, updated_at=now, next_grant_at=None,
                                       canceled_by=current_actor())
            self.store.cancel(canceled)  # ConcurrentUpdate: canceled meanwhile (or a conflict): re-read
            return canceled

        return with_retries(attempt, self.attempts, busy="the schedule is being changed by another request; retry")

    # ------------------------------------------------------------------ the scheduled run
    def run_due(self, now: datetime | None = None, deadline: MonotonicInstant | None = None,
                on_error: Callable[[str, Exception], None] | None = None) -> RunSummary:
        """Grant every begun period of every due schedule. `deadline` is a time.monotonic()
        value after which no new work starts (the rest is due again on the next run)."""
        now = now or self.clock()
        summary = RunSummary()
        for account_id, schedule_id in self.store.due(now):
            if deadline is not None and time.monotonic() >= deadline:
                summary.incomplete = True
                break
            summary.schedules += 1
            try:
                self._run_one(account_id, schedule_id, now, deadline, summary)
            except Exception as exc:  # noqa: BLE001 - one bad schedule must not stop the others
                summary.failed += 1
                if on_error is not None:
                    on_error(schedule_id, exc)
                else:
                    raise
        return summary

    def _run_one(self, account_id: str, schedule_id: str, now: datetime, deadline: MonotonicInstant | None,
                 summary: RunSummary) -> None:
        conflicts = 0
        while conflicts < self.attempts and not summary.incomplete:
            schedule = self.store.get(account_id, schedule_id)  # strongly consistent re-read
            if schedule is None or schedule.status != "ACTIVE":
                return
            due = plan(schedule, now)
            if due.next_index == schedule.next_index:
                return  # nothing begun (or another run got here first)
            try:
                self._advance(schedule, due, now, deadline, summary)
            except ConcurrentUpdate:
                conflicts += 1  # another run (or a cancel) moved it: re-read, re-plan
                summary.conflicts += 1
            # else: loop once more, in case the plan was bounded (MAX_PERIODS) and more is due

    def _advance(self, schedule: ScheduleRecord, due: periods.DuePlan, now: datetime, deadline: MonotonicInstant | None,
                 summary: RunSummary) -> None:
        """One transaction per granted period: its grant + the schedule advanced past it
        (skipped periods, always a prefix of the due ones, are absorbed into the first)."""
        expected = schedule.next_index
        for i, period in enumerate(due.grant):
            if deadline is not None and time.monotonic() >= deadline:
                summary.incomplete = True
                return
            last = i == len(due.grant) - 1
            next_index = due.next_index if last else period.index + 1
            next_at = due.next_grant_at if last else due.grant[i + 1].start
            grant, entry = period_grant(schedule, period, now)
            self.store.grant_period(schedule, expected, next_index, next_at, grant, entry, now)
            expected = next_index
            summary.granted += 1
        summary.skipped += len(due.skipped)
        if not due.grant:  # every begun period was already over: just move past them
            self.store.advance(schedule, expected, due.next_index, due.next_grant_at, now)


def run_due_schedules(service: ScheduleService, now: datetime | None = None, deadline: MonotonicInstant | None = None, *,
                      remaining_ms: Callable[[], int] | int | None = None) -> dict[str, Any]:
    """The expiry sweep's entry point: grant what is due now; returns a summary dict.

    `deadline` is a time.monotonic() value after which no new work starts; alternatively give
    `remaining_ms` (Lambda's `context.get_remaining_time_in_millis`, or its value) and the
    deadline leaves a safety margin. What is not reached stays due for the next run. A schedule
    that fails is logged and retried on the next run; it never blocks the others."""
    if deadline is None and remaining_ms is not None:
        left = remaining_ms() if callable(remaining_ms) else remaining_ms
        deadline = time.monotonic() + max(0.0, left / 1000 - RUN_SAFETY_MARGIN_SECONDS)
    def log(schedule_id: str, exc: Exception) -> None:
        logger.exception("recurring grant run failed", extra={"scheduleId": schedule_id})

    return service.run_due(now, deadline, on_error=log).as_dict()
