"""Expiry rules (pure): when a grant is due for expiry or for its expiring-soon notice, and the
notice records the sweep writes (their INSERTs publish the events)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Literal

from credits.domain.actors import Actor, current_actor
from credits.domain.clock import expiry_date_of
from credits.domain.records import GrantRecord

Queue = Literal["EXPIRY", "NOTICE"]
GrantKey = tuple[str, str]  # (PK, SK) of a grant item, as the KEYS_ONLY indexes return it




@dataclass(frozen=True, slots=True)
class ExpiringNotice:
    """The notice item whose INSERT publishes account.credits.expiring_soon: once per grant, and
    again only if a PATCH moved the expiry (which re-arms the notice)."""

    account_id: str
    customer_id: str
    grant_id: str
    grant_type: str
    currency: str | None
    metric_id: str | None
    name: str
    expires_at: datetime
    current_balance: Decimal
    created_at: datetime
    grant_version: int  # the version written with it: part of the key, so each notice is unique
    actor: Actor | None = field(default_factory=current_actor)
    test_clock_id: str | None = None  # the grant's customer's test clock (its event says so)

    @property
    def expiry_date(self) -> str:
        day = expiry_date_of(self.expires_at)
        assert day is not None
        return day.isoformat()


@dataclass(frozen=True, slots=True)
class DepletionNotice:
    """The notice item whose INSERT publishes account.credits.balance_depleted when the sweep's
    EXPIRED entries took a customer's available balance (a currency or a metric) to zero. Keyed by
    the last such entry, so a re-run after a crash writes the same notice (once)."""

    account_id: str
    customer_id: str
    grant_type: str
    currency: str | None
    metric_id: str | None
    entry_id: str
    created_at: datetime
    actor: Actor | None = field(default_factory=current_actor)
    test_clock_id: str | None = None


# Grants per batch: a transaction holds at most 100 items, and each grant takes 2 (the grant, its
# EXPIRED entry or its notice) and may move its balance aggregate (one more item per balance).
BATCH_GRANTS = 33


def is_due_for_expiry(grant: GrantRecord, now: datetime) -> bool:
    return grant.expires_at is not None and grant.expires_at <= now and grant.holds_spendable_balance


def is_due_for_notice(grant: GrantRecord, now: datetime, lead: timedelta) -> bool:
    """Within `lead` of its expiry, not expired yet (the expiry pass handles those), still
    holding a balance, and not noticed for this expiry yet."""
    return (not grant.expiring_notice_sent and grant.expires_at is not None
            and grant.expires_at - lead <= now < grant.expires_at and grant.holds_spendable_balance)


def notice_for(grant: GrantRecord, now: datetime) -> tuple[GrantRecord, ExpiringNotice]:
    """The grant marked as noticed (it leaves the notice index) and the notice to write with it.
    updatedAt is left alone: nothing a client sees has changed."""
    assert grant.expires_at is not None
    updated = grant.evolve(expiring_notice_sent=True, version=grant.version + 1)
    return updated, ExpiringNotice(
        account_id=grant.account_id, customer_id=grant.customer_id, grant_id=grant.id, grant_type=grant.type,
        currency=grant.currency, metric_id=grant.metric_id, name=grant.name, expires_at=grant.expires_at,
        current_balance=grant.current_balance, created_at=now,
        grant_version=updated.version, test_clock_id=grant.test_clock_id)
