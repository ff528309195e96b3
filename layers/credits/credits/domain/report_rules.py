"""Report rules (pure): activity totals in a window and the liability outstanding at its end.

Aggregation over ledger entries, with closed months folded once into monthly snapshots (per
account, and per customer for customer reports): a report reads the snapshots up to the last
closed month and the ledger entries only of the window's open edges, so its cost grows with the
activity of those edges and the number of months, not with the account's history."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from credits.domain import money
from credits.domain.ledger_rules import BALANCE_SIGN
from credits.domain.records import ZERO, LedgerRecord
from credits.models.api import ReportRow

# A deleted grant (made by mistake) shows as voided: what it still held leaves the liability, and
# granted + adjusted - applied - consumed + released - expired - voided - rolledOver = outstanding
# holds for every row (`adjusted` is signed: ADJUSTED_UP adds, ADJUSTED_DOWN takes off).
_FLOW = {"GRANTED": "granted", "ADJUSTED_UP": "adjusted", "ADJUSTED_DOWN": "adjusted", "APPLIED": "applied",
         "CONSUMED": "consumed", "RELEASED": "released", "EXPIRED": "expired", "VOIDED": "voided", "DELETED": "voided",
         "ROLLED_OVER": "rolledOver"}
# How each entry type moves the balance still owed to the customer (the ledger's own signs).
_SIGN = {**BALANCE_SIGN, "DELETED": -1}
# Columns summed with a sign (the others are sums of positive amounts).
_SIGNED_FLOWS = {"ADJUSTED_DOWN": -1}


Key = tuple[str, str | None, str | None]  # (type, currency, metricId)
# A closed month's entries can no longer change: an entry is stamped when its request starts
# and committed within a Lambda timeout (at most 15 minutes), and GSI1 catches up in well under
# a second. Months that ended longer ago than this are folded into snapshots once.
CLOSED_AFTER = timedelta(hours=1)


@dataclass
class Totals:
    """Per (type, currency, metricId): `position` = balance still owed and its money value
    (units x pricePerUnit, unrounded), `flows` = amounts moved by type."""

    position: dict[Key, dict[str, Decimal]] = field(default_factory=dict)
    flows: dict[Key, dict[str, Decimal]] = field(default_factory=dict)

    def add(self, entry: LedgerRecord, *, position: bool = True, flows: bool = True) -> None:
        ctx = entry.context
        kind = ctx.get("grantType", "CASH")
        key = (kind, ctx.get("currency"), ctx.get("metricId") if kind == "USAGE" else None)
        held = self.position.setdefault(key, {"outstanding": ZERO, "value": ZERO})
        if position and entry.type in _SIGN:
            signed = _SIGN[entry.type] * entry.amount
            held["outstanding"] += signed
            if ctx.get("pricePerUnit") is not None:
                held["value"] += signed * Decimal(ctx["pricePerUnit"])
        if flows and entry.type in _FLOW:
            moved = self.flows.setdefault(key, dict.fromkeys(_FLOW.values(), ZERO))
            moved[_FLOW[entry.type]] += _SIGNED_FLOWS.get(entry.type, 1) * entry.amount

    def merge_flows(self, other: Totals) -> None:
        for key, moved in other.flows.items():
            mine = self.flows.setdefault(key, dict.fromkeys(_FLOW.values(), ZERO))
            for name, amount in moved.items():
                mine[name] = mine.get(name, ZERO) + amount

    def to_json(self) -> str:
        def plain(table: dict[Key, dict[str, Decimal]]) -> dict[str, dict[str, str]]:
            return {"|".join(part or "" for part in key): {k: str(v) for k, v in row.items()} for key, row in table.items()}

        return json.dumps({"position": plain(self.position), "flows": plain(self.flows)}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Totals:
        def parsed(table: dict[str, dict[str, str]]) -> dict[Key, dict[str, Decimal]]:
            out: dict[Key, dict[str, Decimal]] = {}
            for joined, row in table.items():
                kind, cur, metric = joined.split("|")
                # Snapshots folded before a column existed read it as zero.
                out[(kind, cur or None, metric or None)] = {k: Decimal(v) for k, v in row.items()}
            return out

        data = json.loads(text)
        return cls(position=parsed(data["position"]), flows=parsed(data["flows"]))


def month_start(instant: datetime) -> datetime:
    return datetime(instant.year, instant.month, 1, tzinfo=UTC)


def next_month(start: datetime) -> datetime:
    return datetime(start.year + start.month // 12, start.month % 12 + 1, 1, tzinfo=UTC)


def build_report(entries: Iterable[LedgerRecord], start: datetime, end: datetime, *, customer_id: str | None = None,
                 grant_type: str | None = None, currency: str | None = None) -> list[ReportRow]:
    """The report from every entry of the account before `end` (the definition the monthly
    snapshots must agree with)."""
    totals = Totals()
    for e in entries:
        if (customer_id and e.customer_id != customer_id) or e.created_at >= end:
            continue
        totals.add(e, flows=e.created_at >= start)
    return report_rows(totals, grant_type=grant_type, currency=currency)


def report_rows(totals: Totals, *, grant_type: str | None = None, currency: str | None = None) -> list[ReportRow]:
    rows = []
    for key in sorted(totals.position, key=lambda k: (k[0] != "CASH", k[1] or "", k[2] or "")):
        kind, cur, metric = key
        if (grant_type and kind != grant_type) or (currency and cur != currency):
            continue
        held = totals.position[key]
        moved = {**dict.fromkeys(_FLOW.values(), ZERO), **(totals.flows.get(key) or {})}
        fmt = (lambda v: money.format_money(v, cur)) if kind == "CASH" and cur else money.format_units
        value = None
        if kind == "USAGE":
            raw = held["value"]
            value = money.format_money(money.round_money(raw, cur), cur) if cur else money.format_units(raw)
        rows.append(ReportRow(type=kind, currency=cur, metricId=metric, granted=fmt(moved["granted"]),
                              adjusted=fmt(moved["adjusted"]), applied=fmt(moved["applied"]),
                              consumed=fmt(moved["consumed"]), released=fmt(moved["released"]),
                              expired=fmt(moved["expired"]), voided=fmt(moved["voided"]),
                              rolledOver=fmt(moved["rolledOver"]),
                              outstanding=fmt(held["outstanding"]), outstandingValue=value))
    return rows


def copy_table(table: dict[Key, dict[str, Decimal]]) -> dict[Key, dict[str, Decimal]]:
    return {key: dict(row) for key, row in table.items()}
