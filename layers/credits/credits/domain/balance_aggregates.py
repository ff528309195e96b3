"""Per-balance aggregates (pure): what one customer balance (a CASH currency or a USAGE metric)
holds, kept so that reading it costs one item whatever the number of grants (README "Key
design: balance aggregates").

A grant contributes to its balance's aggregate while it is neither voided nor written expired
(deleted grants contribute nothing): its `currentBalance`, its `pendingAmount` and a count of 1,
filed under its usability window (effectiveAt, expiresAt). Every write that changes a grant adds
the difference of its contribution to the aggregate in the same transaction. Time alone never
writes, so a read keeps only the windows that contain the instant of the read: a grant that
became effective counts at once, one whose expiry passed counts nowhere even before the expiry
job has written it. The totals so read equal `domain/balances.balance_totals` over the grants.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from credits.domain.balances import BalanceTotals
from credits.domain.clock import from_iso, to_iso
from credits.domain.records import ZERO, GrantRecord

# A window key: "<effectiveAt>|<expiresAt or ~>|<applicability>", fixed-width ISO instants; the
# applicability of a CASH grant is "*" (every metric) or its metric ids joined by ",", so the
# CASH credits that may pay for one metric are read from the same item.
NEVER = "~"
ALWAYS = "-"
EVERY_METRIC = "*"
AVAILABLE, PENDING, COUNT = "a", "p", "n"


@dataclass(frozen=True, slots=True)
class BalanceKey:
    type: str
    currency: str | None
    metric_id: str | None

    @property
    def scope(self) -> str:
        return (self.currency if self.type == "CASH" else self.metric_id) or ""


# {(field, window): amount} -- field is AVAILABLE, PENDING or COUNT
Contribution = dict[tuple[str, str], Decimal]


def balance_key_of(grant: GrantRecord) -> BalanceKey:
    return BalanceKey(grant.type, grant.currency if grant.type == "CASH" else None,
                      grant.metric_id if grant.type == "USAGE" else None)


def window_of(grant: GrantRecord) -> str:
    """A grant effective when it was created is filed as effective from the start ("-"), so
    grants made at different instants share a bucket; only a grant scheduled for later keeps its
    effectiveAt (immutable, like createdAt: the key of a grant never moves but by its expiry)."""
    metrics = grant.applicable_metric_ids
    applicability = EVERY_METRIC if metrics is None else ",".join(sorted(metrics))
    effective = ALWAYS if grant.effective_at <= grant.created_at else to_iso(grant.effective_at)
    return f"{effective}|{to_iso(grant.expires_at) if grant.expires_at else NEVER}|{applicability}"


def contribution(grant: GrantRecord | None) -> Contribution:
    """What `grant` (None: no grant, e.g. deleted or not yet created) adds to its aggregate."""
    # A grant awaiting payment is not usable (nor counted) until it is paid: it joins then.
    if grant is None or grant.awaiting_payment or grant.voided_at is not None or grant.expired_at is not None:
        return {}
    window = window_of(grant)
    return {(AVAILABLE, window): grant.current_balance, (PENDING, window): grant.pending_amount,
            (COUNT, window): Decimal(1)}


def delta(before: Contribution, after: Contribution) -> Contribution:
    """What to add to the aggregate when a grant goes from `before` to `after` (zeros dropped)."""
    out: Contribution = {}
    for key in before.keys() | after.keys():
        change = after.get(key, ZERO) - before.get(key, ZERO)
        if change != 0:
            out[key] = change
    return out


def merge(deltas: Iterable[tuple[BalanceKey, Contribution]]) -> dict[BalanceKey, Contribution]:
    """Deltas of many grants of one transaction, one per aggregate item (a transaction may
    touch an item once)."""
    merged: dict[BalanceKey, Contribution] = {}
    for key, change in deltas:
        target = merged.setdefault(key, {})
        for field, amount in change.items():
            target[field] = target.get(field, ZERO) + amount
    return {k: {f: a for f, a in v.items() if a != 0} for k, v in merged.items() if any(a != 0 for a in v.values())}


def _window_open(window: str, now: datetime, metric_id: str | None = None) -> tuple[bool, datetime | None]:
    """Whether grants of this window are usable at `now` (and, with `metric_id`, may pay for it)."""
    start, end, applicability = (window.split("|") + [EVERY_METRIC])[:3]
    expires = None if end == NEVER else from_iso(end)
    effective = start == ALWAYS or (from_iso(start) or now) <= now
    usable = effective and (expires is None or now < expires)
    if metric_id is not None and applicability != EVERY_METRIC:
        usable = usable and metric_id in applicability.split(",")
    return usable, expires


def totals_at(key: BalanceKey, buckets: Mapping[tuple[str, str], Decimal], now: datetime,
              expiring_within: timedelta = timedelta(days=30)) -> BalanceTotals:
    """The balance row as of `now` from an aggregate's buckets."""
    row = BalanceTotals(type=key.type, currency=key.currency, metric_id=key.metric_id)
    horizon = now + expiring_within
    for (field, window), amount in buckets.items():
        usable, expires = _window_open(window, now)
        if not usable:
            continue
        if field == AVAILABLE:
            row.available += amount
            if expires is not None and expires <= horizon:
                row.expiring += amount
        elif field == PENDING:
            row.pending += amount
        elif field == COUNT:
            row.grant_count += int(amount)
    return row


def available_at(buckets: Mapping[tuple[str, str], Decimal], now: datetime, metric_id: str | None = None) -> Decimal:
    """What is usable at `now` (with `metric_id`: only CASH credits whose applicability allows it)."""
    return sum((amount for (field, window), amount in buckets.items()
                if field == AVAILABLE and _window_open(window, now, metric_id)[0]), ZERO)
