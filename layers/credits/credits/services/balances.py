"""A customer's balance (one CASH currency or USAGE metric) read in burn-down order, only as
far as a use case needs: apply plans over it, void and the expiry sweep ask whether anything
usable is left in it."""

from __future__ import annotations

from datetime import datetime

from credits.domain.application_rules import burn_grant, by_grant, plan
from credits.domain.burndown import Allocation as Alloc
from credits.domain.burndown import BurnLine, apply_allocations, grant_sort_key
from credits.domain.records import ZERO, GrantRecord

# Grants read per page of one balance in burn-down order: most invoices need a few.
BURN_PAGE = 16


class BalanceReader:
    """One balance of a customer (a CASH currency or a USAGE metric): its spendable grants in
    burn-down order, read a page at a time, only as far as the caller needs."""

    def __init__(self, repo, account_id: str, customer_id: str, grant_type: str, scope: str,
                 first_page: int | None = None):
        self.grant_type, self.scope = grant_type, scope
        self.key = (grant_type, scope if grant_type == "CASH" else None, scope if grant_type == "USAGE" else None)
        # A consumption usually needs one grant: it asks for a smaller first page.
        self._source = (repo.burn_candidates(account_id, customer_id, grant_type, scope) if first_page is None
                        else repo.burn_candidates(account_id, customer_id, grant_type, scope, first_page=first_page))
        self.read: list[GrantRecord] = []
        self.exhausted = False
        # A grant whose place in the order changed (a PATCH of priority or expiry) between two
        # pages can come again: what was read is then not one moment's order.
        self.moved = False
        self._page = first_page or BURN_PAGE

    def read_more(self) -> None:
        """The next page; pages double (as the store's do), so n grants take O(log n) reads."""
        seen = {g.id for g in self.read}
        for _ in range(self._page):
            grant = next(self._source, None)
            if grant is None:
                self.exhausted = True
                return
            if grant.id in seen:
                self.moved = True
                continue
            self.read.append(grant)
        self._page *= 2

    def written(self, grants: dict[str, GrantRecord]) -> None:
        """Take this call's own committed writes into what was read (a later chunk plans on them;
        a grant changed by anyone else fails that chunk's version condition and is re-read)."""
        self.read = [grants.get(g.id, g) for g in self.read]

    def depleted(self, now: datetime, written: dict[str, GrantRecord]) -> bool:
        """Nothing usable is left in this balance once `written` (grant id -> new state) is."""
        seen = 0
        while True:
            if any(written.get(g.id, g).usable_at(now) for g in self.read[seen:]):
                return False
            seen = len(self.read)
            if self.exhausted:
                return True
            self.read_more()


def spendable_in_burn_order(grants: list[GrantRecord], grant_type: str, scope: str) -> list[GrantRecord]:
    """What the store's burn-down index (LSI1) holds for one balance, in its order: for adapters
    that keep grants in memory."""
    spendable = [g for g in grants if g.type == grant_type and g.balance_scope == scope and g.holds_spendable_balance]
    return sorted(spendable, key=lambda g: grant_sort_key(burn_grant(g)))


def reader_for(repo, grant: GrantRecord) -> BalanceReader:
    return BalanceReader(repo, grant.account_id, grant.customer_id, grant.type, grant.balance_scope)


def plan_reading(lines: list[BurnLine], balances: list[BalanceReader], currency: str, now: datetime) -> list[Alloc]:
    """The burn-down over as few grants as it needs. Each balance is read in burn-down order, so
    what is read is a prefix of it and the burn-down over the prefixes equals the burn-down over
    everything, as long as no balance could still give more: a USAGE balance while every grant
    read is used up and a line of its metric is still open after the USAGE step; the CASH
    balance while any line is still open."""
    for balance in balances:
        if not balance.read and not balance.exhausted:
            balance.read_more()
    while True:
        allocations = plan(lines, [g for b in balances for g in b.read], currency, now)
        hungry = [b for b in balances if not b.exhausted and _could_give_more(b, lines, allocations, now)]
        if not hungry:
            return allocations
        for balance in hungry:
            balance.read_more()


def _could_give_more(balance: BalanceReader, lines: list[BurnLine], allocations: list[Alloc], now: datetime) -> bool:
    if balance.grant_type == "USAGE":
        taken = by_grant(allocations)
        if any(g.usable_at(now) and taken.get(g.id, ZERO) < g.current_balance for g in balance.read):
            return False  # a grant has units left: every line of the metric was done before it
        after_usage = apply_allocations(lines, [a for a in allocations if a.type == "USAGE"])
        return any(l.is_usage and l.metric_id == balance.scope and l.covered_units < l.quantity
                   and l.credited < l.amount for l in after_usage)
    return any(l.credited < l.amount for l in apply_allocations(lines, allocations))


def invoice_balances(repo, account_id: str, customer_id: str, lines: list[BurnLine], currency: str) -> list[BalanceReader]:
    """The balances an invoice can draw on: one per metric of its usage lines, and its currency."""
    metrics = dict.fromkeys(l.metric_id for l in lines if l.is_usage and l.metric_id is not None)
    return [*(BalanceReader(repo, account_id, customer_id, "USAGE", m) for m in metrics),
            BalanceReader(repo, account_id, customer_id, "CASH", currency)]
