"""Read use cases: grant lists, one grant, balances, ledger history, the credits report. They
return records; api/views.py renders them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from credits.domain.balance_aggregates import totals_at
from credits.domain.balances import BalanceTotals
from credits.domain.clock import now_for, now_of, utcnow
from credits.domain.errors import InvalidRequest, NotFound
from credits.domain.records import GrantRecord, Page
from credits.models.api import CreditReport
from credits.services.ports import GrantQuery, LedgerQuery, Repository
from credits.services.reports import report


class QueryService:
    def __init__(self, repo: Repository, clock: Callable[[], datetime] = utcnow):
        self.repo = repo
        self.clock = clock

    def list_grants(self, account_id: str, query: GrantQuery) -> tuple[Page, datetime, dict[str, datetime]]:
        """The page, the instant of the read, and now on each test clock of its grants (a
        customer's list is read at its test clock's time, status filter included)."""
        if query.after and query.before:
            raise InvalidRequest("give after or before, not both", field="before")
        now = now_for(self.clock, account_id, query.customer_id) if query.customer_id else self.clock()
        page = self.repo.list_grants(account_id, query, now)
        return page, now, self.clock_times(account_id, page.items)

    def clock_times(self, account_id: str, grants: list[GrantRecord]) -> dict[str, datetime]:
        """Now on each test clock these grants are on (none without the clock port)."""
        times = getattr(self.clock, "times", None)
        return times(account_id, grants) if times is not None else {}

    def get_grant(self, account_id: str, grant_id: str) -> tuple[GrantRecord, datetime]:
        grant = self.repo.get_grant(account_id, grant_id)
        if grant is None:
            raise NotFound(f"credit grant {grant_id} not found", field="grantId")
        return grant, now_of(self.clock, grant)

    def balance(self, account_id: str, customer_id: str, expiring_within_days: int) -> tuple[list[BalanceTotals], datetime]:
        """From the customer's balance aggregates (one Query, whatever its number of grants); they
        equal `balance_totals` over its grants (domain/balance_aggregates.py)."""
        now = now_for(self.clock, account_id, customer_id)  # a test clock's customer: its clock's time
        within = timedelta(days=expiring_within_days)
        rows = [totals_at(key, buckets, now, within) for key, buckets in self.repo.balance_aggregates(account_id, customer_id)]
        rows = [row for row in rows if row.grant_count > 0]
        return sorted(rows, key=lambda r: (r.type != "CASH", r.currency or r.metric_id or "")), now

    def report(self, account_id: str, start: datetime, end: datetime, **filters) -> CreditReport:
        if end <= start:
            raise InvalidRequest("to must be after from", field="to")
        if filters.get("customer_id"):
            # A customer on a test clock: its months close by its clock (a clock only moves forward,
            # so nothing is written into a month its clock has closed).
            filters["now"] = now_for(self.clock, account_id, filters["customer_id"])
        return report(self.repo, account_id, start, end, **filters)

    def transactions(self, account_id: str, customer_id: str, query: LedgerQuery) -> Page:
        if query.after and query.before:
            raise InvalidRequest("give after or before, not both", field="before")
        if query.start and query.end and query.end <= query.start:
            raise InvalidRequest("to must be after from", field="to")
        return self.repo.list_ledger(account_id, customer_id, query)
