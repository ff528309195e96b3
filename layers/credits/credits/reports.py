"""GET /reports/credits: activity totals in a window and the liability outstanding at its end.

Pure aggregation over ledger entries (the store reads them in time order from the account's
ledger index). Cost: one Query over the account's entries created before `to` — it grows with
the account's ledger up to `to`, not with the table (README "Reports" says more)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from credits import money
from credits.clock import to_iso
from credits.records import ZERO, LedgerRecord

_FLOW = {"GRANTED": "granted", "APPLIED": "applied", "RELEASED": "released", "EXPIRED": "expired", "VOIDED": "voided"}
# How each entry type moves the balance still owed to the customer.
_SIGN = {"GRANTED": 1, "APPLIED": -1, "RELEASED": 1, "EXPIRED": -1, "VOIDED": -1, "DELETED": -1}


class ReportRow(BaseModel):
    type: Literal["CASH", "USAGE"]
    currency: str | None
    metricId: str | None
    granted: str
    applied: str
    released: str
    expired: str
    voided: str
    outstanding: str
    outstandingValue: str | None


class CreditReport(BaseModel):
    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)

    from_: str = Field(alias="from")
    to: str
    customerId: str | None
    rows: list[ReportRow]


def build_report(entries: Iterable[LedgerRecord], start: datetime, end: datetime, *, customer_id: str | None = None,
                 grant_type: str | None = None, currency: str | None = None) -> list[ReportRow]:
    totals: dict[tuple, dict[str, Decimal]] = defaultdict(lambda: defaultdict(lambda: ZERO))
    per_grant: dict[tuple, dict[str, Decimal]] = defaultdict(lambda: defaultdict(lambda: ZERO))
    prices: dict[str, Decimal] = {}
    for e in entries:
        ctx = e.context
        kind = ctx.get("grantType", "CASH")
        key = (kind, ctx.get("currency"), ctx.get("metricId") if kind == "USAGE" else None)
        if customer_id and e.customer_id != customer_id or grant_type and kind != grant_type \
                or currency and key[1] != currency or e.created_at >= end:
            continue
        row = totals[key]
        if e.type in _SIGN:
            row["outstanding"] += _SIGN[e.type] * e.amount
            per_grant[key][e.grant_id] += _SIGN[e.type] * e.amount
        if ctx.get("pricePerUnit") is not None:
            prices[e.grant_id] = Decimal(ctx["pricePerUnit"])
        if e.type in _FLOW and e.created_at >= start:
            row[_FLOW[e.type]] += e.amount
    rows = []
    for key in sorted(totals, key=lambda k: (k[0] != "CASH", k[1] or "", k[2] or "")):
        kind, cur, metric = key
        row = totals[key]
        fmt = (lambda v: money.format_money(v, cur)) if kind == "CASH" and cur else money.format_units
        value = None
        if kind == "USAGE":
            raw = sum((units * prices.get(gid, ZERO) for gid, units in per_grant[key].items()), ZERO)
            value = money.format_money(money.round_money(raw, cur), cur) if cur else money.format_units(raw)
        rows.append(ReportRow(type=kind, currency=cur, metricId=metric, granted=fmt(row["granted"]),
                              applied=fmt(row["applied"]), released=fmt(row["released"]), expired=fmt(row["expired"]),
                              voided=fmt(row["voided"]), outstanding=fmt(row["outstanding"]), outstandingValue=value))
    return rows


def report(repo, account_id: str, start: datetime, end: datetime, *, customer_id=None, grant_type=None,
           currency=None) -> CreditReport:
    entries = repo.account_ledger_until(account_id, end, customer_id=customer_id)
    rows = build_report(entries, start, end, customer_id=customer_id, grant_type=grant_type, currency=currency)
    return CreditReport(from_=to_iso(start), to=to_iso(end), customerId=customer_id, rows=rows)
