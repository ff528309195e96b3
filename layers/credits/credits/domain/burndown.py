"""The pure allocation of credit grants to invoice lines (API.md "Applying credits").

USAGE grants first, then CASH grants in the invoice currency, each step in `grant_sort_key`
order; lines are visited in input order and never go below zero. No I/O, exact Decimals.

Lines carry what earlier allocations already did (`credited`, `covered_units`), so running
`burndown` over a prefix of the grants (in sort order), applying the result with
`apply_allocations`, then running it over the rest gives the same allocations as one run;
"in sort order" means `ordered_grants` (all USAGE grants come before any CASH grant).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal, localcontext
from typing import Literal

from .money import MONEY_CONTEXT, currency_places, round_money

__all__ = [
    "Allocation",
    "BurnGrant",
    "BurnLine",
    "InvoiceSummary",
    "LineSummary",
    "apply_allocations",
    "burndown",
    "grant_sort_key",
    "line_amount",
    "ordered_grants",
    "summarize",
]

GrantType = Literal["CASH", "USAGE"]
Category = Literal["PAID", "PROMOTIONAL"]

_ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class BurnGrant:
    id: str
    type: GrantType
    currency: str | None
    metric_id: str | None
    balance: Decimal  # money (CASH) or units (USAGE) usable now
    priority: int
    expires_at: datetime | None
    category: Category
    effective_at: datetime
    created_at: datetime
    applicable_metric_ids: tuple[str, ...] | None = None  # CASH only; None = every line


@dataclass(frozen=True, slots=True)
class BurnLine:
    line_id: str
    metric_id: str | None
    amount: Decimal  # full line amount in the invoice currency
    quantity: Decimal | None = None
    unit_price: Decimal | None = None
    credited: Decimal = _ZERO  # money already credited by earlier allocations
    covered_units: Decimal = _ZERO  # units already covered by earlier USAGE allocations

    @property
    def is_usage(self) -> bool:
        return self.quantity is not None and self.unit_price is not None


@dataclass(frozen=True, slots=True)
class Allocation:
    grant_id: str
    type: GrantType
    line_id: str
    units: Decimal | None  # USAGE only
    value: Decimal  # money taken off the line


@dataclass(frozen=True, slots=True)
class LineSummary:
    line_id: str
    amount: Decimal
    credits_applied: Decimal
    amount_due: Decimal


@dataclass(frozen=True, slots=True)
class InvoiceSummary:
    lines: tuple[LineSummary, ...]
    subtotal: Decimal
    credits_applied: Decimal
    total_due: Decimal


def line_amount(quantity: Decimal, unit_price: Decimal, currency: str) -> Decimal:
    """A usage line's amount: quantity x unitPrice, rounded half-even to the currency."""
    return round_money(MONEY_CONTEXT.multiply(quantity, unit_price), currency)


def grant_sort_key(grant: BurnGrant) -> tuple:
    """priority; expiresAt (soonest first, never last); PROMOTIONAL first; effectiveAt;
    createdAt; id."""
    # (0, t) < (1,) puts never-expiring last without comparing aware datetimes to a sentinel.
    expiry = (0, grant.expires_at) if grant.expires_at is not None else (1,)
    return (
        grant.priority,
        expiry,
        0 if grant.category == "PROMOTIONAL" else 1,
        grant.effective_at,
        grant.created_at,
        grant.id,
    )


def ordered_grants(grants: Iterable[BurnGrant]) -> list[BurnGrant]:
    """The order `burndown` takes grants in: USAGE ones, then CASH ones, each by
    `grant_sort_key`. A prefix of this list is what a continuation run may start with."""
    return sorted(grants, key=lambda g: (g.type != "USAGE", grant_sort_key(g)))


def _check_unique(ids: Iterable[str], what: str) -> None:
    seen: set[str] = set()
    for item in ids:
        if item in seen:
            raise ValueError(f"duplicate {what} {item!r}")
        seen.add(item)


def burndown(
    lines: Sequence[BurnLine], grants: Iterable[BurnGrant], currency: str
) -> list[Allocation]:
    """Allocate `grants` to `lines`; returns allocations in the order they were made.

    The caller passes only grants usable now and of this customer. Each (grant, line) pair
    gets at most one allocation, since every grant visits every line once.
    """
    currency_places(currency)  # fail fast on an unsupported currency
    grants = list(grants)
    _check_unique((line.line_id for line in lines), "lineId")
    _check_unique((grant.id for grant in grants), "grant id")
    for grant in grants:
        if grant.type not in ("CASH", "USAGE"):
            raise ValueError(f"unknown grant type {grant.type!r}")

    credited = [line.credited for line in lines]
    covered = [line.covered_units for line in lines]
    out: list[Allocation] = []
    ordered = ordered_grants(g for g in grants if g.balance > 0)

    with localcontext(MONEY_CONTEXT):
        for grant in ordered:
            if grant.type != "USAGE" or grant.metric_id is None:
                continue
            units_left = grant.balance
            for i, line in enumerate(lines):
                if not line.is_usage or line.metric_id != grant.metric_id:
                    continue
                line_units = line.quantity - covered[i]
                money_left = line.amount - credited[i]
                # A fully paid line keeps the customer's units: they would buy nothing.
                if line_units <= 0 or money_left <= 0:
                    continue
                units = min(units_left, line_units)
                before = covered[i]
                # Cumulative rounding: the values over a fully covered line sum to its amount.
                value = round_money((before + units) * line.unit_price, currency) - round_money(
                    before * line.unit_price, currency
                )
                value = min(value, money_left)
                covered[i] = before + units
                credited[i] += value
                units_left -= units
                out.append(Allocation(grant.id, "USAGE", line.line_id, units, value))
                if units_left <= 0:
                    break

        for grant in ordered:
            if grant.type != "CASH" or grant.currency != currency:
                continue
            allowed = grant.applicable_metric_ids
            money_left = grant.balance
            for i, line in enumerate(lines):
                if allowed is not None and line.metric_id not in allowed:
                    continue
                line_left = line.amount - credited[i]
                if line_left <= 0:
                    continue
                value = min(money_left, line_left)
                credited[i] += value
                money_left -= value
                out.append(Allocation(grant.id, "CASH", line.line_id, None, value))
                if money_left <= 0:
                    break
    return out


def apply_allocations(
    lines: Sequence[BurnLine], allocations: Iterable[Allocation]
) -> list[BurnLine]:
    """The lines as a later `burndown` run should see them after `allocations`."""
    with localcontext(MONEY_CONTEXT):
        return _apply(lines, allocations)


def _apply(lines: Sequence[BurnLine], allocations: Iterable[Allocation]) -> list[BurnLine]:
    credited: dict[str, Decimal] = {}
    covered: dict[str, Decimal] = {}
    for a in allocations:
        credited[a.line_id] = credited.get(a.line_id, _ZERO) + a.value
        if a.units is not None:
            covered[a.line_id] = covered.get(a.line_id, _ZERO) + a.units
    _check_known(lines, credited)
    return [
        replace(
            line,
            credited=line.credited + credited.get(line.line_id, _ZERO),
            covered_units=line.covered_units + covered.get(line.line_id, _ZERO),
        )
        for line in lines
    ]


def _check_known(lines: Sequence[BurnLine], by_line: dict[str, Decimal]) -> None:
    unknown = by_line.keys() - {line.line_id for line in lines}
    if unknown:
        raise ValueError(f"allocation for unknown lineId {sorted(unknown)[0]!r}")


def summarize(
    lines: Sequence[BurnLine], allocations: Iterable[Allocation], currency: str
) -> InvoiceSummary:
    """Per-line and total figures for a response; a line's creditsApplied includes its
    earlier `credited`. Amounts come back with exactly the currency's digits."""
    with localcontext(MONEY_CONTEXT):
        return _summarize(lines, allocations, currency)


def _summarize(
    lines: Sequence[BurnLine], allocations: Iterable[Allocation], currency: str
) -> InvoiceSummary:
    applied: dict[str, Decimal] = {}
    for a in allocations:
        applied[a.line_id] = applied.get(a.line_id, _ZERO) + a.value
    _check_known(lines, applied)
    rows = []
    for line in lines:
        credits = line.credited + applied.get(line.line_id, _ZERO)
        rows.append(
            LineSummary(
                line_id=line.line_id,
                amount=round_money(line.amount, currency),
                credits_applied=round_money(credits, currency),
                amount_due=round_money(max(line.amount - credits, _ZERO), currency),
            )
        )
    subtotal = sum((r.amount for r in rows), _ZERO)
    credits_applied = sum((r.credits_applied for r in rows), _ZERO)
    total_due = sum((r.amount_due for r in rows), _ZERO)
    return InvoiceSummary(
        lines=tuple(rows),
        subtotal=round_money(subtotal, currency),
        credits_applied=round_money(credits_applied, currency),
        total_due=round_money(total_due, currency),
    )
