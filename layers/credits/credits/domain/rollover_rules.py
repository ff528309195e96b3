"""Rollover (pure): when a schedule's period grant expires with a balance left, up to the
schedule's `maxAmount` of it moves, as a ROLLED_OVER entry on the old grant, into a new grant;
the rest is EXPIRED (API.md "Paid credits, adjustments, refunds, rollover").

The new grant's id derives from the old grant's, so the one transaction that writes the old
grant (conditioned on the version read), its entries and the new grant (attribute_not_exists)
can commit once only, however many sweeps run at once."""

from __future__ import annotations

import hashlib
from datetime import datetime

from credits.domain import money, periods
from credits.domain.grant_rules import entry, expire_grant, grant_context, granted_entry
from credits.domain.ids import ulid_floor
from credits.domain.records import ZERO, GrantRecord, LedgerRecord

NAME_PREFIX = "Rollover: "
_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford, as ids.py


def rolls_over(grant: GrantRecord) -> bool:
    """Will expiring it move part of its balance into a rollover grant?"""
    return grant.rollover_max is not None and grant.rollover_interval is not None and grant.current_balance > ZERO


def rollover_grant_id(grant: GrantRecord) -> str:
    """ULID-shaped with the old grant's expiry as its time part; the rest from the old grant's id."""
    assert grant.expires_at is not None
    ms = max(0, min(int(grant.expires_at.timestamp() * 1000), (1 << 48) - 1))
    value = int.from_bytes(hashlib.sha256(f"rollover#{grant.id}".encode()).digest()[:10], "big")
    return "cg_" + ulid_floor(ms)[:10] + "".join(_ALPHABET[(value >> (5 * i)) & 31] for i in reversed(range(16)))


def expire_with_rollover(grant: GrantRecord, now: datetime,
                         ) -> tuple[GrantRecord, list[LedgerRecord], GrantRecord | None, LedgerRecord | None]:
    """Expire `grant`; with a rollover, also the ROLLED_OVER entry and the new grant (effective at
    the old one's expiry, expiring one schedule interval later, same type, unit, category and
    priority, no rollover of its own) with its GRANTED entry. A rollover that would already be
    over when written (a sweep far behind) is not made: everything expires."""
    if not rolls_over(grant) or grant.expires_at is None or grant.voided_at is not None or grant.expired_at is not None:
        updated, entries = expire_grant(grant, now)
        return updated, entries, None, None
    assert grant.rollover_max is not None and grant.rollover_interval is not None
    start = grant.expires_at
    ends = periods.period_start(start, grant.rollover_interval, grant.rollover_interval_count or 1, 1)  # type: ignore[arg-type]
    if ends <= now:
        updated, entries = expire_grant(grant, now)
        return updated, entries, None, None
    balance = grant.current_balance
    rolled = min(balance, grant.rollover_max)
    cost = ZERO
    if grant.currency is not None and grant.cost_of_credit > ZERO:
        cost = money.round_money(money.MONEY_CONTEXT.divide(
            money.MONEY_CONTEXT.multiply(rolled, grant.cost_of_credit), grant.original_amount), grant.currency)
    name = (NAME_PREFIX + grant.name)[:100]
    new = GrantRecord(
        id=rollover_grant_id(grant), account_id=grant.account_id, customer_id=grant.customer_id, name=name,
        type=grant.type, currency=grant.currency, metric_id=grant.metric_id, original_amount=rolled,
        current_balance=rolled, pending_amount=ZERO, cost_of_credit=cost, price_per_unit=grant.price_per_unit,
        category=grant.category, priority=grant.priority, tax_rate_id=grant.tax_rate_id, tax_rate=grant.tax_rate,
        effective_at=start, expires_at=ends, reason=f"rolled over from {grant.id}", metadata=dict(grant.metadata),
        applicable_metric_ids=grant.applicable_metric_ids, invoice_requested=False, schedule_id=grant.schedule_id,
        # Made at the period boundary it belongs to (so it sorts before the period grant made then).
        created_at=start, updated_at=now, amount_scale=grant.amount_scale, rolled_over_from=grant.id,
        test_clock_id=grant.test_clock_id,  # a clock customer's rollover waits in its clock's queues
    )
    expired = grant.evolve(current_balance=ZERO, expired_at=now, updated_at=now, version=grant.version + 1)
    entries = [entry(expired.evolve(current_balance=balance - rolled), "ROLLED_OVER", rolled, now,
                     reason=f"rolled over into {new.id}", context={**grant_context(expired), "rolledOverTo": new.id})]
    if balance > rolled:
        entries.append(entry(expired, "EXPIRED", balance - rolled, now, context=grant_context(expired)))
    return expired, entries, new, granted_entry(new, now)
