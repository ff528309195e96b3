"""Recurring-grant rules (pure): a new schedule from a create request, the periods due, and the
grant of one period with an id derived from (schedule, period), so that a retried or concurrent
run collides instead of granting twice."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from pydantic import ValidationError

from credits.domain import periods
from credits.domain.clock import to_iso
from credits.domain.errors import InvalidRequest
from credits.domain.grant_rules import build_grant, granted_entry, parse_grant_amount
from credits.domain.ids import new_schedule_id, ulid_floor
from credits.domain.records import GrantRecord, LedgerRecord, ScheduleRecord
from credits.models.api import CreateGrantRequest, CreateScheduleRequest

# How far back a schedule may start: its begun periods are granted on the next run.
MAX_START_IN_PAST = timedelta(days=366)


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
    if schedule.rollover_max is not None:
        grant = grant.evolve(rollover_max=schedule.rollover_max, rollover_interval=schedule.interval,
                             rollover_interval_count=schedule.interval_count)
    grant = grant.evolve(test_clock_id=schedule.test_clock_id)  # the schedule's customer's clock
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
    if body.grant.requirePayment:
        raise InvalidRequest("grant.requirePayment is not available on schedules (bill the allowance with the "
                             "subscription, or create each paid grant on its own)", field="grant.requirePayment")
    try:
        # A bad template (currency rules, costs, USAGE without metricId...) is a 400 now, not a
        # failure on every run later.
        first, _ = period_grant(record, periods.Period(0, start, first_expiry), now)
    except ValidationError as exc:  # pragma: no cover - the template was validated as a model
        raise InvalidRequest(f"grant: {exc.errors()[0].get('msg')}", field="grant") from None
    except InvalidRequest as exc:
        # Name the field where the caller wrote it: inside `grant`.
        raise InvalidRequest(f"grant.{exc.message}", field=f"grant.{exc.field}" if exc.field else "grant") from None
    if body.rollover is not None:
        if body.expireAfterIntervals is None:
            raise InvalidRequest("rollover needs expireAfterIntervals: a grant that never expires has nothing to roll "
                                 "over", field="rollover")
        # maxAmount in the grant's unit: money of its currency (CASH) or units (USAGE).
        record = record.evolve(rollover_max=parse_grant_amount(first, body.rollover.maxAmount, "rollover.maxAmount"))
    return record
