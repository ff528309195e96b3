"""Read use cases: grant lists, balances, ledger history (and the pure balance arithmetic)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from decimal import Decimal

from credits.domain import money
from credits.domain.clock import to_iso, utcnow
from credits.domain.errors import InvalidRequest, NotFound
from credits.models.api import BalanceRow, CreditBalance, GrantList, LedgerEntryList, Pagination
from credits.domain.records import ZERO, GrantRecord, Page
from credits.api.views import entry_view, grant_view


def balance_rows(grants: Iterable[GrantRecord], now: datetime, expiring_within: timedelta) -> list[BalanceRow]:
    """One row per CASH currency and per USAGE metric, from grants that are effective, unexpired
    and unvoided at `now` (deleted grants are gone from the store)."""
    rows: dict[tuple[str, str], dict] = {}
    horizon = now + expiring_within
    for grant in grants:
        if grant.status_at(now) not in ("ACTIVE", "DEPLETED"):
            continue
        key = (grant.type, grant.currency if grant.type == "CASH" else grant.metric_id)
        row = rows.setdefault(key, {"available": ZERO, "pending": ZERO, "expiring": ZERO, "count": 0,
                                    "currency": grant.currency if grant.type == "CASH" else None,
                                    "metric": grant.metric_id if grant.type == "USAGE" else None})
        row["available"] += grant.current_balance
        row["pending"] += grant.pending_amount
        row["count"] += 1
        if grant.expires_at is not None and grant.expires_at <= horizon:
            row["expiring"] += grant.current_balance

    def text(value: Decimal, grant_type: str, currency: str | None) -> str:
        return money.format_money(value, currency) if grant_type == "CASH" and currency else money.format_units(value)

    ordered = sorted(rows.items(), key=lambda kv: (kv[0][0] != "CASH", kv[0][1] or ""))
    return [
        BalanceRow(type=t, currency=r["currency"], metricId=r["metric"], available=text(r["available"], t, r["currency"]),
                   pending=text(r["pending"], t, r["currency"]), expiringSoon=text(r["expiring"], t, r["currency"]),
                   grantCount=r["count"])
        for (t, _), r in ordered
    ]


def _pagination(page: Page) -> Pagination:
    return Pagination(after=page.after, before=page.before, totalResultSize=page.total)


class QueryService:
    def __init__(self, repo, clock: Callable[[], datetime] = utcnow):
        self.repo = repo
        self.clock = clock

    def list_grants(self, account_id: str, query) -> GrantList:
        if query.after and query.before:
            raise InvalidRequest("give after or before, not both", field="before")
        now = self.clock()
        page = self.repo.list_grants(account_id, query, now)
        return GrantList(items=[grant_view(g, now) for g in page.items], pagination=_pagination(page))

    def get_grant(self, account_id: str, grant_id: str):
        grant = self.repo.get_grant(account_id, grant_id)
        if grant is None:
            raise NotFound(f"credit grant {grant_id} not found", field="grantId")
        return grant_view(grant, self.clock())

    def balance(self, account_id: str, customer_id: str, expiring_within_days: int) -> CreditBalance:
        now = self.clock()
        grants = self.repo.customer_grants(account_id, customer_id)
        return CreditBalance(customerId=customer_id, asOf=to_iso(now),
                             balances=balance_rows(grants, now, timedelta(days=expiring_within_days)))

    def report(self, account_id: str, start: datetime, end: datetime, **filters):
        from credits.domain.report_rules import report

        if end <= start:
            raise InvalidRequest("to must be after from", field="to")
        return report(self.repo, account_id, start, end, **filters)

    def transactions(self, account_id: str, customer_id: str, query) -> LedgerEntryList:
        if query.after and query.before:
            raise InvalidRequest("give after or before, not both", field="before")
        if query.start and query.end and query.end <= query.start:
            raise InvalidRequest("to must be after from", field="to")
        page = self.repo.list_ledger(account_id, customer_id, query)
        return LedgerEntryList(items=[entry_view(e) for e in page.items], pagination=_pagination(page))
