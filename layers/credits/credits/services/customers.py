"""`GET /customers`: the account's customers with credits, most recent activity first.

The list is read from the customer directory (a Query, never a Scan); each customer's balances
are then its own strongly consistent read of its grants, summed as `credit-balance` sums them
(domain/balances.balance_totals)."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime

from credits.domain.clock import now_of, utcnow
from credits.domain.customer_rules import CustomerSummary, summarize
from credits.domain.errors import InvalidRequest
from credits.domain.records import CustomerEntry, LedgerRecord, Page
from credits.services.ports import CustomerDirectory, Repository

# A page holds up to 100 customers: their grants are read this many at a time.
READERS = 8


class CustomerService:
    def __init__(self, repo: Repository, directory: CustomerDirectory, clock: Callable[[], datetime] = utcnow):
        self.repo = repo
        self.directory = directory
        self.clock = clock

    def note_activity(self, entries: list[LedgerRecord]) -> None:
        """From the table stream: committed ledger entries move their customers forward."""
        if entries:
            self.directory.note_activity(entries)

    def list(self, account_id: str, *, prefix: str | None, limit: int, after: str | None,
             before: str | None) -> Page:
        """A Page of CustomerSummary."""
        if after and before:
            raise InvalidRequest("give after or before, not both", field="before")
        page = self.directory.list_customers(account_id, prefix=prefix, limit=limit, after=after, before=before)
        now = self.clock()

        def summary(entry: CustomerEntry) -> CustomerSummary:
            grants = self.repo.customer_grants(account_id, entry.customer_id)
            # A customer on a test clock is summed up at its clock's time (its grants all carry it).
            return summarize(entry, grants, now_of(self.clock, grants[0]) if grants else now)

        with ThreadPoolExecutor(max_workers=READERS) as pool:
            items = list(pool.map(summary, page.items))
        return replace(page, items=items)
