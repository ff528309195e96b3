"""The reads of the Stripe-compatible view (`/v1/billing/…`): the same grants and ledger as the
JSON API, through the Repository and StripeStore ports (api/stripe/ renders them)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from credits.domain.clock import now_for, utcnow
from credits.domain.errors import MissingReference
from credits.domain.records import GrantRecord, LedgerRecord
from credits.services.ports import Repository, StripeStore


class StripeQueryService:
    def __init__(self, repo: Repository, pages: StripeStore, clock: Callable[[], datetime] = utcnow):
        self.repo = repo
        self.pages = pages
        self.clock = clock

    def now_for(self, account_id: str, customer_id: str) -> datetime:
        """Now for a customer (its test clock's time, if it is on one)."""
        return now_for(self.clock, account_id, customer_id)

    def grant(self, account_id: str, grant_id: str) -> GrantRecord | None:
        return self.repo.get_grant(account_id, grant_id)

    def customer_grant(self, account_id: str, customer_id: str, grant_id: str) -> GrantRecord | None:
        return self.repo.get_customer_grant(account_id, customer_id, grant_id)

    def customer_grants(self, account_id: str, customer_id: str) -> list[GrantRecord]:
        return self.repo.customer_grants(account_id, customer_id)

    def entry(self, account_id: str, entry_id: str) -> LedgerRecord | None:
        return self.repo.find_entry(account_id, entry_id)

    def cash_grants(self, account_id: str, customer_id: str | None, *, limit: int, starting_after: str | None,
                    ending_before: str | None) -> tuple[list[GrantRecord], bool]:
        # As Stripe: a cursor names an object of the list; one that does not exist is a 400.
        for field, cursor in (("starting_after", starting_after), ("ending_before", ending_before)):
            named = self.repo.get_grant(account_id, cursor) if cursor is not None else None
            if cursor is not None and (named is None or named.type != "CASH"):
                raise MissingReference(f"No such credit grant: '{cursor}'", field=field)
        return self.pages.list_cash_grants(account_id, customer_id, limit=limit, starting_after=starting_after,
                                           ending_before=ending_before)

    def balance_entries(self, account_id: str, customer_id: str, *, types: tuple[str, ...], grant_ids: set[str],
                        limit: int, starting_after: str | None, ending_before: str | None,
                        ) -> tuple[list[LedgerRecord], bool]:
        for field, cursor in (("starting_after", starting_after), ("ending_before", ending_before)):
            if cursor is not None and self.repo.find_entry(account_id, cursor) is None:
                raise MissingReference(f"No such credit balance transaction: '{cursor}'", field=field)
        return self.pages.list_balance_entries(account_id, customer_id, types=types, grant_ids=grant_ids, limit=limit,
                                               starting_after=starting_after, ending_before=ending_before)
