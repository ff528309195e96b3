"""A customer's balances (pure): one per CASH currency and per USAGE metric, from the grants
that are effective, unexpired and unvoided at `now` (deleted grants are gone from the store)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from credits.domain.records import ZERO, GrantRecord


@dataclass
class BalanceTotals:
    type: str
    currency: str | None
    metric_id: str | None
    available: Decimal = ZERO
    pending: Decimal = ZERO
    expiring: Decimal = ZERO
    grant_count: int = 0


def balance_totals(grants: Iterable[GrantRecord], now: datetime, expiring_within: timedelta) -> list[BalanceTotals]:
    """CASH balances first (by currency), then USAGE (by metric)."""
    rows: dict[tuple[str, str], BalanceTotals] = {}
    horizon = now + expiring_within
    for grant in grants:
        if grant.status_at(now) not in ("ACTIVE", "DEPLETED"):
            continue
        key = (grant.type, grant.balance_scope)
        row = rows.setdefault(key, BalanceTotals(type=grant.type,
                                                 currency=grant.currency if grant.type == "CASH" else None,
                                                 metric_id=grant.metric_id if grant.type == "USAGE" else None))
        row.available += grant.current_balance
        row.pending += grant.pending_amount
        row.grant_count += 1
        if grant.expires_at is not None and grant.expires_at <= horizon:
            row.expiring += grant.current_balance
    return [row for _, row in sorted(rows.items(), key=lambda kv: (kv[0][0] != "CASH", kv[0][1]))]
