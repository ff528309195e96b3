"""Consumption rules (pure): what a `POST /credit-consumptions` body means, as a one-line
invoice that settles at once, and what the burn-down over it covers. No storage, no HTTP.

A consumption is run through the same burn-down as an application (domain/burndown.py): USAGE
grants of the metric first, then, with a price or an amount, CASH grants in the currency whose
applicability allows the metric.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from decimal import Decimal

from credits.domain import money
from credits.domain.application_rules import MAX_TRANSACTION_ITEMS
from credits.domain.burndown import Allocation, BurnLine, line_amount
from credits.domain.errors import InvalidRequest
from credits.domain.records import ZERO
from credits.models.consumptions import ConsumeRequest

LINE_ID = "consumption"
# A transaction holds at most 100 items: the consumption, two per grant (grant, CONSUMED entry)
# and at most two balance aggregates. A consumption draws on at most this many grants; what the
# grants after them would have covered is reported uncovered (README "Limits").
MAX_GRANTS = 45
# Units without a price are burned as a line priced at 10^6 in a currency without minor units:
# every unit amount (6 fractional digits at most) is then an exact whole value, and the USAGE
# step of the burn-down covers exactly as many units as the grants hold.
_UNIT_SCALE = Decimal(10) ** money.UNIT_PLACES
_UNIT_CURRENCY = "JPY"
# A run of the queue's consumptions drawn together in one transaction (README "A hot customer"):
# each brings its record and at least one entry, so 30 leave room for the grants and aggregates.
TOGETHER_MAX = 30


@dataclass(frozen=True, slots=True)
class ConsumptionInput:
    event_id: str
    customer_id: str
    metric_id: str | None
    quantity: Decimal | None
    currency: str | None
    unit_price: Decimal | None
    amount: Decimal | None
    mode: str

    @property
    def priced(self) -> bool:
        """Has a money value (a price per unit, or an amount)."""
        return self.currency is not None

    @property
    def burn_currency(self) -> str:
        return self.currency or _UNIT_CURRENCY

    def line(self) -> BurnLine:
        if self.quantity is not None:
            price = self.unit_price if self.unit_price is not None else _UNIT_SCALE
            return BurnLine(LINE_ID, self.metric_id, line_amount(self.quantity, price, self.burn_currency),
                            self.quantity, price)
        assert self.amount is not None
        return BurnLine(LINE_ID, self.metric_id, self.amount)

    def balances(self) -> list[tuple[str, str]]:
        """(grant type, scope) of the balances it may draw on, in burn-down order."""
        out = []
        if self.quantity is not None and self.metric_id is not None:
            out.append(("USAGE", self.metric_id))
        if self.currency is not None:
            out.append(("CASH", self.currency))
        return out


def _parse(parse, value: str, field: str, *args) -> Decimal:
    try:
        return parse(value, *args, field=field)
    except ValueError as exc:
        raise InvalidRequest(str(exc), field=field) from None


def consumption_input(request: ConsumeRequest) -> ConsumptionInput:
    """Validate the body's combination of fields: metricId + quantity (optionally currency +
    unitPrice), or currency + amount (optionally metricId)."""
    currency = request.currency.upper() if request.currency is not None else None
    if currency is not None and not money.is_supported_currency(currency):
        raise InvalidRequest(f"currency {request.currency!r} is not a supported ISO 4217 currency", field="currency")
    if request.quantity is not None and request.amount is not None:
        raise InvalidRequest("give quantity (usage) or amount (money), not both", field="amount")
    quantity = price = amount = None
    if request.quantity is not None:
        if request.metricId is None:
            raise InvalidRequest("metricId is required with quantity", field="metricId")
        quantity = _parse(money.parse_units, request.quantity, "quantity")
        if (request.unitPrice is None) != (currency is None):
            missing = "unitPrice" if request.unitPrice is None else "currency"
            raise InvalidRequest(f"{missing} is required with {'currency' if missing == 'unitPrice' else 'unitPrice'}"
                                 " (what an uncovered unit costs in CASH credits)", field=missing)
        if request.unitPrice is not None:
            price = _parse(money.parse_price, request.unitPrice, "unitPrice")
            assert currency is not None
            if line_amount(quantity, price, currency) > money.MAX_AMOUNT:
                raise InvalidRequest(f"quantity x unitPrice must be at most {money.format_units(money.MAX_AMOUNT)}",
                                     field="quantity")
    elif request.amount is not None:
        if request.unitPrice is not None:
            raise InvalidRequest("unitPrice goes with quantity, not with amount", field="unitPrice")
        if currency is None:
            raise InvalidRequest("currency is required with amount", field="currency")
        amount = _parse(money.parse_money, request.amount, "amount", currency)
    else:
        raise InvalidRequest("give metricId and quantity, or currency and amount", field="quantity")
    return ConsumptionInput(event_id=request.eventId, customer_id=request.customerId, metric_id=request.metricId,
                            quantity=quantity, currency=currency, unit_price=price, amount=amount, mode=request.mode)


def request_hash(item: ConsumptionInput) -> str:
    """The hash of the validated request (`usd` and `USD`, `1.50` and `1.5` are the same body)."""
    def number(value: Decimal | None) -> str | None:
        return None if value is None else format(value.normalize(), "f")

    canonical = json.dumps([item.event_id, item.customer_id, item.metric_id, number(item.quantity), item.currency,
                            number(item.unit_price), number(item.amount), item.mode], separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def within_limit(allocations: list[Allocation]) -> list[Allocation]:
    """The allocations of the first MAX_GRANTS grants drawn on (in burn-down order)."""
    kept = list(dict.fromkeys(a.grant_id for a in allocations))[:MAX_GRANTS]
    return [a for a in allocations if a.grant_id in set(kept)]


@dataclass(frozen=True, slots=True)
class Coverage:
    covered_units: Decimal | None
    covered_value: Decimal | None
    uncovered_units: Decimal | None
    uncovered_value: Decimal | None

    @property
    def complete(self) -> bool:
        return not (self.uncovered_units or self.uncovered_value)


def coverage(item: ConsumptionInput, allocations: list[Allocation]) -> Coverage:
    """What the allocations cover. Usage: units covered by USAGE credits, plus (with a price)
    those whose value CASH credits paid (value / unitPrice, rounded half-even to 6 places); the value left is
    what to bill. Money: the value covered and left."""
    line = item.line()
    credited = sum((a.value for a in allocations), ZERO)
    if item.quantity is None:
        assert item.amount is not None
        return Coverage(None, credited, None, item.amount - credited)
    usage_units = sum((a.units for a in allocations if a.units is not None), ZERO)
    if not item.priced:
        return Coverage(usage_units, None, item.quantity - usage_units, None)
    assert item.unit_price is not None and item.currency is not None
    left_value = line.amount - credited
    if left_value <= 0:
        units = item.quantity
    else:
        cash = sum((a.value for a in allocations if a.type == "CASH"), ZERO)
        paid_units = money.round_places(cash / item.unit_price, money.UNIT_PLACES) if cash else ZERO
        units = min(item.quantity, usage_units + paid_units)
    return Coverage(units, credited, item.quantity - units, left_value)


def batch_key(item: ConsumptionInput) -> tuple[Hashable, ...]:
    """Consumptions that may be drawn together: one customer, the same balances, one currency."""
    return (item.customer_id, tuple(item.balances()), item.burn_currency)


def together_parts[T](run: list[T], key: Callable[[T], str]) -> list[list[T]]:
    """A run of consumptions of one balance split into the parts committed together: at most
    TOGETHER_MAX each, and none of one. An eventId that comes twice goes alone (the second is a
    replay or a conflict, which its own path answers)."""
    seen = Counter(key(member) for member in run)
    single = [member for member in run if seen[key(member)] == 1]
    parts = [single[start:start + TOGETHER_MAX] for start in range(0, len(single), TOGETHER_MAX)]
    return [part for part in parts if len(part) > 1]


def fits_one_transaction(records: int, grants: int, entries: int, aggregates: int) -> bool:
    return records + grants + entries + aggregates <= MAX_TRANSACTION_ITEMS
