"""Application rules (pure): an invoice's lines, the burn-down plan over grants, and how a
stored application reads (its lines, its visible status). No storage, no HTTP."""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from datetime import datetime
from decimal import Decimal
from typing import Any

from credits.domain import money
from credits.domain.burndown import Allocation as Alloc
from credits.domain.burndown import BurnGrant, BurnLine, apply_allocations, burndown, line_amount
from credits.domain.errors import InvalidRequest
from credits.domain.records import ZERO, ApplicationRecord, GrantRecord
from credits.models.api import ApplyRequest

# 1 application item + up to 3 items per grant (grant, entry, and on release a write-off entry)
# + at most one balance aggregate per grant <= 100.
CHUNK_GRANTS = 24


def request_hash(request: ApplyRequest, lines: list[BurnLine] | None = None) -> str:
    """The hash of the validated request, not of its spelling: currency `usd` and `USD`, or an
    amount `150.0` and `150.00`, are the same request. Without `lines`: the hash of the request
    as sent (what applications stored before), still accepted as the same body."""
    if lines is None:
        canonical = json.dumps(request.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    else:
        def number(value: Decimal | None) -> str | None:
            return None if value is None else format(value.normalize(), "f")

        canonical = json.dumps({"v": 2, "invoiceId": request.invoiceId, "customerId": request.customerId,
                                "currency": request.currency.upper(), "settle": request.settle,
                                "lines": [[l.line_id, l.metric_id, number(l.amount), number(l.quantity),
                                           number(l.unit_price)] for l in lines]},
                               sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def invoice_lines(request: ApplyRequest) -> list[BurnLine]:
    """Validate the lines against the currency rules; a usage line's amount is quantity x price."""
    currency = request.currency.upper()
    if not money.is_supported_currency(currency):
        raise InvalidRequest(f"currency {request.currency!r} is not a supported ISO 4217 currency", field="currency")
    seen: set[str] = set()
    lines = []
    for index, line in enumerate(request.lines):
        where = f"lines[{index}]"
        if line.lineId in seen:
            raise InvalidRequest(f"{where}.lineId {line.lineId!r} is used twice", field=f"{where}.lineId")
        seen.add(line.lineId)
        try:
            if line.quantity is not None or line.unitPrice is not None:
                if line.amount is not None:
                    raise InvalidRequest(f"{where} has both amount and quantity/unitPrice", field=f"{where}.amount")
                if line.quantity is None or line.unitPrice is None:
                    missing = "quantity" if line.quantity is None else "unitPrice"
                    raise InvalidRequest(f"{where}.{missing} is required with "
                                         f"{'unitPrice' if missing == 'quantity' else 'quantity'}", field=f"{where}.{missing}")
                if line.metricId is None:
                    raise InvalidRequest(f"{where}.metricId is required on a usage line", field=f"{where}.metricId")
                quantity = money.parse_units(line.quantity, field=f"{where}.quantity")
                price = money.parse_price(line.unitPrice, field=f"{where}.unitPrice")
                amount = line_amount(quantity, price, currency)
                if amount > money.MAX_AMOUNT:
                    raise InvalidRequest(f"{where}: quantity x unitPrice must be at most "
                                         f"{money.format_units(money.MAX_AMOUNT)}", field=f"{where}.quantity")
                lines.append(BurnLine(line.lineId, line.metricId, amount, quantity, price))
            else:
                if line.amount is None:
                    raise InvalidRequest(f"{where} needs amount, or quantity and unitPrice", field=f"{where}.amount")
                amount = money.parse_money(line.amount, currency, field=f"{where}.amount")
                lines.append(BurnLine(line.lineId, line.metricId, amount))
        except ValueError as exc:
            raise InvalidRequest(str(exc), field=str(exc).split(" ", 1)[0]) from None
    if sum((line.amount for line in lines), ZERO) > money.MAX_AMOUNT:
        raise InvalidRequest(f"the lines add up to more than {money.format_units(money.MAX_AMOUNT)}", field="lines")
    return lines


def burn_grant(grant: GrantRecord) -> BurnGrant:
    return BurnGrant(id=grant.id, type=grant.type, currency=grant.currency, metric_id=grant.metric_id,
                     balance=grant.current_balance, priority=grant.priority, expires_at=grant.expires_at,
                     category=grant.category, effective_at=grant.effective_at, created_at=grant.created_at,
                     applicable_metric_ids=grant.applicable_metric_ids)


def plan(lines: list[BurnLine], grants: list[GrantRecord], currency: str, now: datetime) -> list[Alloc]:
    usable = [burn_grant(g) for g in grants if g.usable_at(now)]
    return burndown(lines, usable, currency)


def by_grant(allocations: list[Alloc]) -> dict[str, Decimal]:
    """Amount taken from each grant, in its own unit (money for CASH, units for USAGE)."""
    totals: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for a in allocations:
        totals[a.grant_id] += a.units if a.units is not None else a.value
    return dict(totals)


def balance_key(grant: GrantRecord) -> tuple[str, str | None, str | None]:
    return (grant.type, grant.currency if grant.type == "CASH" else None, grant.metric_id if grant.type == "USAGE" else None)


def visible_status(app: ApplicationRecord) -> str:
    """A chunked apply under way reads COMMITTING (its totals are partial, never presented as
    final); a chunked settle or release reads as the state it started from (its totals are final)."""
    if app.status == "SETTLING":
        return "PENDING"
    if app.status == "RELEASING":
        return app.transition_from or "PENDING"
    return app.status


def line_dicts(lines: list[BurnLine]) -> list[dict[str, Any]]:
    return [{"lineId": l.line_id, "metricId": l.metric_id, "amount": str(l.amount),
             "quantity": str(l.quantity) if l.quantity is not None else None,
             "unitPrice": str(l.unit_price) if l.unit_price is not None else None} for l in lines]


def burn_lines(app: ApplicationRecord) -> list[BurnLine]:
    lines = [BurnLine(l["lineId"], l.get("metricId"), Decimal(l["amount"]),
                      Decimal(l["quantity"]) if l.get("quantity") is not None else None,
                      Decimal(l["unitPrice"]) if l.get("unitPrice") is not None else None) for l in app.lines]
    return apply_allocations(lines, app.allocations)
