"""Recurring grants: the schedule models, the pure rules (what a period's grant is), and the use
cases (create, get, list, cancel, run what is due).

Exactly one grant per schedule and period: each period's grant is written in the same
DynamoDB transaction that advances the schedule's `nextIndex`, conditioned on the index that
was read, and the grant's id is derived from (schedule, period) with `attribute_not_exists`.
Two runs at once, or a run retried after a crash, can therefore never grant a period twice.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, ValidationError, create_model

from credits.domain import periods
from credits.domain.clock import to_iso, utcnow
from credits.domain.errors import ConcurrentUpdate, Conflict, InvalidRequest, NotFound
from credits.services.grants import build_grant, granted_entry
from credits.domain.ids import new_schedule_id, ulid_floor
from credits.models.api import CreateGrantRequest, Identifier, Pagination, StrictModel, Timestamp
from credits.domain.records import GrantRecord, LedgerRecord

# How far back a schedule may start: its begun periods are granted on the next run.
MAX_START_IN_PAST = timedelta(days=366)
# Time left for the last transaction and the response when a run stops at its deadline.
RUN_SAFETY_MARGIN_SECONDS = 10.0

# ====================================================================== API models

# The grant template is the body of POST /credit-grants without the customer and the dates
# (each period supplies its own); derived from CreateGrantRequest so the two never drift apart.
_NOT_IN_TEMPLATE = {"customerId", "effectiveDate", "effectiveAt", "expiryDate", "expiresAt"}
GrantTemplate = create_model(
    "GrantTemplate",
    __base__=StrictModel,
    **{name: (info.annotation, info) for name, info in CreateGrantRequest.model_fields.items()
       if name not in _NOT_IN_TEMPLATE},
)

Interval = Literal["DAY", "WEEK", "MONTH", "YEAR"]
# Bounded so period arithmetic stays far from year 9999 (an absurd value is a 400, not a 500).
IntervalCount = Annotated[int, Field(strict=True, ge=1, le=1000)]

# A time.monotonic() instant (never money: amounts are Decimal everywhere).
MonotonicInstant = float


class CreateScheduleRequest(StrictModel):
    customerId: Identifier
    grant: GrantTemplate  # type: ignore[valid-type]
    interval: Interval
    intervalCount: IntervalCount = 1
    startAt: Timestamp | None = None
    endAt: Timestamp | None = None
    expireAfterIntervals: IntervalCount | None = None


class Schedule(BaseModel):
    id: str
    customerId: str
    grant: dict[str, Any]
    interval: Interval
    intervalCount: int
    startAt: str
    endAt: str | None
    expireAfterIntervals: int | None
    status: Literal["ACTIVE", "CANCELED"]
    nextGrantAt: str | None
    createdAt: str
    updatedAt: str


class ScheduleList(BaseModel):
    items: list[Schedule]
    pagination: Pagination


# ====================================================================== record and pure rules


@dataclass(frozen=True, slots=True)
class ScheduleRecord:
    id: str
    account_id: str
    customer_id: str
    template: dict[str, Any]  # the grant template as JSON (GrantTemplate, nulls dropped)
    interval: str
    interval_count: int
    start_at: datetime
    end_at: datetime | None
    expire_after_intervals: int | None
    status: str  # ACTIVE | CANCELED
    next_index: int  # first period not granted (or skipped) yet
    next_grant_at: datetime | None  # its start; None = no more periods (finished or canceled)
    created_at: datetime
    updated_at: datetime
    canceled_at: datetime | None = None

    def evolve(self, **changes: Any) -> ScheduleRecord:
        return replace(self, **changes)


def schedule_view(schedule: ScheduleRecord) -> Schedule:
    return Schedule(
        id=schedule.id, customerId=schedule.customer_id, grant=dict(schedule.template), interval=schedule.interval,
        intervalCount=schedule.interval_count, startAt=to_iso(schedule.start_at), endAt=to_iso(schedule.end_at),
        expireAfterIntervals=schedule.expire_after_intervals, status=schedule.status,
        nextGrantAt=to_iso(schedule.next_grant_at) if schedule.status == "ACTIVE" else None,
        createdAt=to_iso(schedule.created_at), updatedAt=to_iso(schedule.updated_at),
    )


def _base32(data: bytes, length: int) -> str:
    alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford, as ids.py
    value = int.from_bytes(data, "big")
    return "".join(alphabet[(value >> (5 * i)) & 31] for i in reversed(range(length)))


def period_grant_id(schedule_id: str, index: int, start: datetime) -> str:
    """The grant id of one (schedule, period): deterministic, so a retried or concurrent run
    collides on `attribute_not_exists` instead of making a second grant; ULID-shaped with the
    period start as its time part, so it sorts with the other grants."""
    ms = max(0, min(int(start.timestamp() * 1000), (1 << 48) - 1))
    digest = hashlib.sha256(f"{schedule_id}#{index}".encode()).digest()[:10]
    return "cg_" + ulid_floor(ms)[:10] + _base32(digest, 16)


def grant_request(schedule: ScheduleRecord, effective_at: datetime, expires_at: datetime | None) -> CreateGrantRequest:
    body = {**schedule.template, "customerId": schedule.customer_id, "effectiveAt": to_iso(effective_at)}
    if expires_at is not None:
        body["expiresAt"] = to_iso(expires_at)
    return CreateGrantRequest.model_validate(body)


def period_grant(schedule: ScheduleRecord, period: periods.Period, now: datetime) -> tuple[GrantRecord, LedgerRecord]:
    """The grant of one period, with its own dates, and its GRANTED ledger entry."""
    grant = build_grant(schedule.account_id, grant_request(schedule, period.start, period.expires_at), now,
                        schedule_id=schedule.id, grant_id=period_grant_id(schedule.id, period.index, period.start),
                        allow_past_expiry=True)  # plan_due already skipped the periods that are over
    return grant, granted_entry(grant, now)


def plan(schedule: ScheduleRecord, now: datetime) -> periods.DuePlan:
    return periods.plan_due(schedule.start_at, schedule.interval, schedule.interval_count,  # type: ignore[arg-type]
                            schedule.next_index, now, schedule.end_at, schedule.expire_after_intervals)


def new_schedule(account_id: str, body: CreateScheduleRequest, now: datetime,
                 schedule_id: str | None = None) -> ScheduleRecord:
    """Validate a create request (dates, and the template by building period 0's grant from it)."""
    start = body.startAt or now
    if start < now - MAX_START_IN_PAST:
        raise InvalidRequest("startAt may lie at most 366 days in the past", field="startAt")
    if body.endAt is not None and body.endAt <= start:
        raise InvalidRequest("endAt must be after startAt", field="endAt")
    record = ScheduleRecord(
        id=schedule_id or new_schedule_id(), account_id=account_id, customer_id=body.customerId,
        template=body.grant.model_dump(mode="json", exclude_none=True), interval=body.interval,
        interval_count=body.intervalCount, start_at=start, end_at=body.endAt,
        expire_after_intervals=body.expireAfterIntervals, status="ACTIVE", next_index=0,
        next_grant_at=start, created_at=now, updated_at=now,
    )
    try:
        first_expiry = periods.expiry_for(start, body.interval, body.intervalCount, 0, body.expireAfterIntervals)
        periods.period_start(start, body.interval, body.intervalCount, 1)
    except OverflowError:
        raise InvalidRequest("the schedule's periods run past the year 9999", field="startAt") from None
    try:
        # A bad template (currency rules, costs, USAGE without metricId...) is a 400 now, not a
        # failure on every run later.
        period_grant(record, periods.Period(0, start, first_expiry), now)
    except ValidationError as exc:  # pragma: no cover - the template was validated as a model
        raise InvalidRequest(f"grant: {exc.errors()[0].get('msg')}", field="grant") from None
    except InvalidRequest as exc:
        # Name the field where the caller wrote it: inside `grant`.
        raise InvalidRequest(f"grant.{exc.message}", field=f"grant.{exc.field}" if exc.field else "grant") from None
    return record


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
        schedule = new_schedule(account_id, body, self.clock())
        self.store.put_new(schedule)
        return schedule

    def get(self, account_id: str, schedule_id: str) -> ScheduleRecord:
        schedule = self.store.get(account_id, schedule_id)
        if schedule is None:
            raise NotFound(f"credit grant schedule {schedule_id} not found", field="scheduleId")
        return schedule

    def list(self, account_id: str, *, customer_id: str | None = None, limit: int = 20, after: str | None = None,
             before: str | None = None) -> ScheduleList:
        if after and before:
            raise InvalidRequest("give after or before, not both", field="before")
        page = self.store.list(account_id, customer_id=customer_id, limit=limit, after=after, before=before)
        return ScheduleList(items=[schedule_view(s) for s in page.items],
                            pagination=Pagination(after=page.after, before=page.before, totalResultSize=page.total))

    def cancel(self, account_id: str, schedule_id: str) -> ScheduleRecord:
        """No further grants (the schedule leaves the due index); the grants made stay.
        Canceling twice returns the canceled schedule unchanged."""
        for _ in range(self.attempts):
            schedule = self.get(account_id, schedule_id)
            if schedule.status == "CANCELED":
                return schedule
            now = self.clock()
            canceled = schedule.evolve(status="CANCELED", canceled_at=now, updated_at=now, next_grant_at=None)
            try:
                self.store.cancel(canceled)
                return canceled
            except ConcurrentUpdate:
                continue  # canceled meanwhile (or a transaction conflict): re-read
        raise Conflict("the schedule is being changed by another request; retry")

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


def schedule_service() -> ScheduleService:
    """Built per call over the container's (cached) repository, so `container.reset()` in
    tests is enough to point it at another table."""
    from credits import container
    from credits.store.schedules_store import ScheduleStore

    return ScheduleService(ScheduleStore(container.repository()))


def run_due_schedules(now: datetime | None = None, deadline: MonotonicInstant | None = None, *,
                      remaining_ms: Callable[[], int] | int | None = None) -> dict[str, Any]:
    """The expiry sweep's entry point: grant what is due now; returns a summary dict.

    `deadline` is a time.monotonic() value after which no new work starts; alternatively give
    `remaining_ms` (Lambda's `context.get_remaining_time_in_millis`, or its value) and the
    deadline leaves a safety margin. What is not reached stays due for the next run. A schedule
    that fails is logged and retried on the next run; it never blocks the others."""
    from aws_lambda_powertools import Logger

    if deadline is None and remaining_ms is not None:
        left = remaining_ms() if callable(remaining_ms) else remaining_ms
        deadline = time.monotonic() + max(0.0, left / 1000 - RUN_SAFETY_MARGIN_SECONDS)
    logger = Logger(service="credits")

    def log(schedule_id: str, exc: Exception) -> None:
        logger.exception("recurring grant run failed", extra={"scheduleId": schedule_id})

    return schedule_service().run_due(now, deadline, on_error=log).as_dict()
