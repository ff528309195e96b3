"""GET /reports/credits as a use case: closed months are folded once into monthly snapshots (per
account, and per customer for customer reports); a report reads the snapshots up to the last
closed month and the ledger entries only of the window's open edges, so its cost grows with the
activity of those edges and the number of months, not with the account's history."""

from __future__ import annotations

from datetime import datetime

from credits.domain.clock import to_iso, utcnow
from credits.domain.report_rules import CLOSED_AFTER, Totals, copy_table, month_start, next_month, report_rows
from credits.models.api import CreditReport


def report(repo, account_id: str, start: datetime, end: datetime, *, customer_id=None, grant_type=None,
           currency=None, now: datetime | None = None) -> CreditReport:
    """Closed months come from monthly snapshots (made once, on first need), the rest from the
    ledger: the cost grows with the entries of the open edges of the window and the number of
    months, not with the account's history."""
    now = now or utcnow()
    closed = min(month_start(end), month_start(now - CLOSED_AFTER))
    snapshots = ensure_snapshots(repo, account_id, customer_id, closed)
    totals = Totals()
    if snapshots:
        totals.position = copy_table(snapshots[-1][1].position)  # the position at `closed`
    # Full closed months inside the window: their flows from the snapshots.
    first_full = next_month(month_start(start)) if month_start(start) < start else start
    for month, snapshot in snapshots:
        if month >= first_full and next_month(month) <= closed:
            totals.merge_flows(snapshot)
    # The open start of the window (before the first full month, if that is closed): flows only.
    if start < closed:
        for e in repo.ledger_between(account_id, start, min(first_full, closed), customer_id=customer_id):
            totals.add(e, position=False)
    # From the last snapshot on: position, and flows inside the window.
    for e in repo.ledger_between(account_id, closed, end, customer_id=customer_id):
        totals.add(e, flows=e.created_at >= start)
    return CreditReport(from_=to_iso(start), to=to_iso(end), customerId=customer_id,
                        rows=report_rows(totals, grant_type=grant_type, currency=currency))


def ensure_snapshots(repo, account_id: str, customer_id: str | None, closed: datetime) -> list[tuple[datetime, Totals]]:
    """Every monthly snapshot before `closed`, oldest first, each = (month, Totals with the
    position at the month's end and the month's flows). Missing ones are folded from the ledger a
    month at a time after the last one stored, each stored at once (identical whoever makes it),
    so a fold of a long history that is cut short resumes where it stopped."""
    stored = repo.report_snapshots(account_id, customer_id, before=closed)
    if stored:
        month = next_month(stored[-1][0])
    else:
        first = repo.first_ledger_instant(account_id, customer_id=customer_id)
        if first is None:
            return []
        month = month_start(first)
    running = Totals(position=copy_table(stored[-1][1].position) if stored else {})
    made: list[tuple[datetime, Totals]] = []
    while month < closed:
        following = next_month(month)
        running.flows = {}
        for entry in repo.ledger_between(account_id, month, following, customer_id=customer_id):
            running.add(entry)
        snapshot = (month, Totals(position=copy_table(running.position), flows=running.flows))
        repo.put_report_snapshot(account_id, customer_id, *snapshot)
        made.append(snapshot)
        month = following
    return stored + made
