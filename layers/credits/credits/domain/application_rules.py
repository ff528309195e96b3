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

# Grants written per transaction at most (apply, settle, release).
CHUNK_GRANTS = 32
# DynamoDB's limit on the items of one transaction. A chunk holds the application item, one item
# per grant, one ledger entry per allocation (an APPLIED entry per grant and invoice line, and
# a RELEASED entry mirroring each), on release one write-off entry per grant, and at most one
# balance-aggregate update per grant (store/dynamo merges a transaction's aggregate deltas into
# one update per customer balance, and a grant belongs to one balance).
MAX_TRANSACTION_ITEMS = 100
AGGREGATE_ITEMS_PER_GRANT = 1


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
        totals[a.grant_id] += entry_amount(a)
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


def take_chunk(allocations: list[Alloc], max_grants: int, *, per_grant: int, per_allocation: int,
               base: int = 1) -> list[Alloc]:
    """The longest prefix of `allocations` (grouped by grant, in the order they are written) that
    one transaction can hold: at most `max_grants` grants, and `base` + `per_grant` items for each
    grant (+ its balance aggregate's update) + `per_allocation` items for each allocation
    <= MAX_TRANSACTION_ITEMS. A grant whose
    allocations do not all fit is cut between two of them (at least one allocation is taken)."""
    grants: set[str] = set()
    items = base
    taken = 0
    for a in allocations:
        cost = per_allocation + (0 if a.grant_id in grants else per_grant + AGGREGATE_ITEMS_PER_GRANT)
        if taken and (items + cost > MAX_TRANSACTION_ITEMS or (a.grant_id not in grants and len(grants) >= max_grants)):
            break
        grants.add(a.grant_id)
        items += cost
        taken += 1
    return allocations[:taken]


def transition_work(app: ApplicationRecord) -> list[Alloc]:
    """What a settle or release still has to write, in the order it writes it: the allocations by
    grant id (each grant's in commit order), less the grants (`done_grant_ids`) and the leading
    allocations (`done_allocations`) that earlier chunks of the same transition wrote."""
    done = set(app.done_grant_ids)
    order = sorted(range(len(app.allocations)), key=lambda i: (app.allocations[i].grant_id, i))
    work = [app.allocations[i] for i in order if app.allocations[i].grant_id not in done]
    return work[app.done_allocations:]


def entry_amount(allocation: Alloc) -> Decimal:
    """What an allocation takes from its grant, in the grant's unit (money or units)."""
    return allocation.units if allocation.units is not None else allocation.value
