"""Customer-directory rules (pure): which customers a write moved forward, and one customer's
summary (`GET /customers`) from its grants, with the same balances as `credit-balance`."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from credits.domain.balances import BalanceTotals, balance_totals
from credits.domain.records import CustomerEntry, GrantRecord, LedgerRecord

# The expiring-soon window of the directory's balances (credit-balance's default).
EXPIRING_WITHIN = timedelta(days=30)


@dataclass(frozen=True, slots=True)
class CustomerSummary:
    customer_id: str
    balances: list[BalanceTotals]
    grant_count: int
    last_activity_at: datetime


def latest_activity(entries: Iterable[LedgerRecord]) -> dict[tuple[str, str], LedgerRecord]:
    """(account, customer) -> the latest ledger entry of one write for each customer it touched:
    where that customer moves to in the directory (only ever forwards). Entry ids are ULIDs, so
    they order writes at millisecond resolution where `createdAt` (seconds) would tie."""
    latest: dict[tuple[str, str], LedgerRecord] = {}
    for entry in entries:
        key = (entry.account_id, entry.customer_id)
        if key not in latest or entry.id > latest[key].id:
            latest[key] = entry
    return latest


def summarize(entry: CustomerEntry, grants: list[GrantRecord], now: datetime,
              expiring_within: timedelta = EXPIRING_WITHIN) -> CustomerSummary:
    return CustomerSummary(customer_id=entry.customer_id, balances=balance_totals(grants, now, expiring_within),
                           grant_count=len(grants), last_activity_at=entry.last_activity_at)
