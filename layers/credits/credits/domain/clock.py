"""Time helpers: every instant in the service is a timezone-aware UTC datetime, whole seconds."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any


def utcnow() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def to_iso(value: datetime | None) -> str | None:
    """RFC 3339 with a Z; fixed width so strings sort as the instants do (DynamoDB keys)."""
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def from_iso(value: str | None) -> datetime | None:
    if value is None:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


def start_of_day(day: date) -> datetime:
    return datetime.combine(day, time(0, 0), tzinfo=UTC)


def expiry_instant(expiry_date: date) -> datetime:
    """expiryDate D = usable through the end of D, so the first unusable instant is D+1 00:00Z."""
    return start_of_day(expiry_date + timedelta(days=1))


def expiry_date_of(expires_at: datetime | None) -> date | None:
    """The last day (UTC) on which a grant expiring at `expires_at` is still usable."""
    if expires_at is None:
        return None
    return (expires_at - timedelta(microseconds=1)).date()


def to_unix(value: datetime | None) -> int | None:
    return None if value is None else int(value.timestamp())


def from_unix(value: int) -> datetime:
    return datetime.fromtimestamp(value, UTC)


# ---- the clock port (services/test_clocks.CustomerClock): a customer's "now"
def reading(clock: Any, account_id: str, customer_id: str) -> tuple[datetime, str | None]:
    """(now, test clock id) of a customer: its test clock's frozenTime when `clock` is the clock
    port and the customer is on a test clock, else `clock()` and None."""
    resolve = getattr(clock, "reading", None)
    return resolve(account_id, customer_id) if resolve is not None else (clock(), None)


def now_for(clock: Any, account_id: str, customer_id: str) -> datetime:
    return reading(clock, account_id, customer_id)[0]


def now_of(clock: Any, record: Any) -> datetime:
    """Now for a grant or schedule (or anything with account_id and test_clock_id)."""
    resolve = getattr(clock, "at", None)
    clock_id = getattr(record, "test_clock_id", None)
    return resolve(record.account_id, clock_id) if resolve is not None and clock_id else clock()
