"""Balance alerts and automatic top-up rules: their CRUD, and what a committed change of a
customer balance does to them (called by the publisher for each stream record of a balance
aggregate, so only committed writes count).

Exactly once per crossing: each watch keeps the side of its threshold it last saw; a change
that puts the balance on the other side publishes `balance_low` / `balance_recovered` (alerts),
or creates the rule's grant (top-ups), then moves the watch over, conditioned on its version. A
top-up grant is created under a claim named by the rule and the crossing (the aggregate's
version), in the same transaction as the rule's move, so a redelivered record or two writers
never make two grants; the 20 consumptions that cross together cross once, since their writes
are serialized on the balance's aggregate item.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

from credits.domain import balance_aggregates as aggregates
from credits.domain.actors import acting_as, current_actor, system_actor
from credits.domain.clock import utcnow
from credits.domain.errors import ConcurrentUpdate, Conflict, InvalidRequest, NotFound
from credits.domain.grant_rules import build_grant, granted_entry
from credits.domain.ids import new_alert_id, new_top_up_rule_id
from credits.domain.paid_rules import invoice_notice
from credits.domain.records import Page, WatchRecord
from credits.domain.watch_rules import (
    LOW,
    MAX_ALERTS_PER_BALANCE,
    balance_of,
    crossings,
    month_of,
    parse_threshold,
    state_of,
    top_ups_left,
)
from credits.models.alerts import CreateAlertRequest, CreateTopUpRuleRequest, UpdateTopUpRuleRequest
from credits.models.api import CreateGrantRequest


class WatchService:
    def __init__(self, repo, store, *, clock: Callable[[], datetime] = utcnow):
        self.repo = repo
        self.store = store
        self.clock = clock

    # ---------------------------------------------------------------- CRUD
    def _available(self, account_id: str, customer_id: str, grant_type: str, scope: str, now: datetime) -> Decimal:
        buckets = self.repo.balance_aggregates_of(account_id, customer_id, [(grant_type, scope)])[(grant_type, scope)]
        return aggregates.available_at(buckets, now)

    def _new(self, account_id: str, kind: str, body: Any, **extra: Any) -> WatchRecord:
        currency, metric = balance_of(body.type, body.currency, body.metricId)
        threshold = parse_threshold(body.threshold, body.type, currency)
        now = self.clock()
        scope = (currency if body.type == "CASH" else metric) or ""
        if kind == "ALERT":
            alerts = [w for w in self.store.of_balance(account_id, body.customerId, body.type, scope) if w.kind == "ALERT"]
            if len(alerts) >= MAX_ALERTS_PER_BALANCE:
                raise Conflict(f"a customer balance has at most {MAX_ALERTS_PER_BALANCE} alerts", field="customerId")
        available = self._available(account_id, body.customerId, body.type, scope, now)
        watch = WatchRecord(id=new_alert_id() if kind == "ALERT" else new_top_up_rule_id(), kind=kind,
                            account_id=account_id, customer_id=body.customerId, type=body.type, currency=currency,
                            metric_id=metric, threshold=threshold, state=state_of(available, threshold),
                            created_at=now, updated_at=now, **extra)
        self.store.put_new(watch)
        return watch

    def create_alert(self, account_id: str, body: CreateAlertRequest) -> WatchRecord:
        return self._new(account_id, "ALERT", body)

    def create_rule(self, account_id: str, body: CreateTopUpRuleRequest) -> WatchRecord:
        template = body.grant.model_dump(exclude_none=True)
        self._check_template(account_id, body.customerId, body.type, body.currency, body.metricId, template)
        return self._new(account_id, "TOP_UP", body, grant=template, max_per_month=body.maxPerMonth,
                         status=body.status)

    def _check_template(self, account_id: str, customer_id: str, type_: str, currency: str | None,
                        metric_id: str | None, template: dict[str, Any]) -> None:
        """The rule's grant must be a valid grant of the balance it tops up."""
        try:
            grant = build_grant(account_id, CreateGrantRequest(customerId=customer_id, **template), self.clock())
        except InvalidRequest as exc:
            raise InvalidRequest(f"grant: {exc.message}", field=f"grant.{exc.field or 'body'}") from None
        want_currency, want_metric = balance_of(type_, currency, metric_id)
        if (grant.type, grant.currency if type_ == "CASH" else grant.metric_id) != (
                type_, want_currency if type_ == "CASH" else want_metric):
            raise InvalidRequest("grant must be of the balance the rule tops up (same type and currency or metricId)",
                                 field="grant.type")

    def get(self, account_id: str, watch_id: str, kind: str) -> WatchRecord:
        watch = self.store.get(account_id, watch_id, kind)
        if watch is None:
            what = "balance alert" if kind == "ALERT" else "top-up rule"
            raise NotFound(f"{what} {watch_id} not found", field="id")
        return watch

    def list(self, account_id: str, kind: str, *, customer_id: str | None, limit: int, after: str | None,
             before: str | None) -> Page:
        if after and before:
            raise InvalidRequest("give after or before, not both", field="before")
        return self.store.list(account_id, kind, customer_id=customer_id, limit=limit, after=after, before=before)

    def delete(self, account_id: str, watch_id: str, kind: str) -> None:
        """Marked deleted by whom (the audit trail reads that write), then deleted."""
        for _ in range(10):
            watch = self.get(account_id, watch_id, kind)
            marked = watch if watch.deleted_at else watch.evolve(
                deleted_at=self.clock(), changed_by=current_actor(), updated_at=self.clock(), version=watch.version + 1)
            try:
                if marked is not watch:
                    self.store.save(marked, watch.version)
                self.store.delete(marked)
                return
            except ConcurrentUpdate:
                continue
        raise Conflict("the watch is being changed by another request; retry")

    def update_rule(self, account_id: str, rule_id: str, body: UpdateTopUpRuleRequest) -> WatchRecord:
        for _ in range(10):
            rule = self.get(account_id, rule_id, "TOP_UP")
            changes: dict[str, Any] = {"updated_at": self.clock(), "version": rule.version + 1,
                                       "changed_by": current_actor()}
            if body.threshold is not None:
                changes["threshold"] = parse_threshold(body.threshold, rule.type, rule.currency)
                changes["state"] = state_of(self._available(account_id, rule.customer_id, rule.type, rule.scope,
                                                            self.clock()), changes["threshold"])
            if body.grant is not None:
                template = body.grant.model_dump(exclude_none=True)
                self._check_template(account_id, rule.customer_id, rule.type, rule.currency, rule.metric_id, template)
                changes["grant"] = template
            if body.maxPerMonth is not None:
                changes["max_per_month"] = body.maxPerMonth
            if body.status is not None:
                changes["status"] = body.status
            updated = rule.evolve(**changes)
            try:
                self.store.save(updated, rule.version)
                return updated
            except ConcurrentUpdate:
                continue
        raise Conflict("the rule is being changed by another request; retry")

    # ---------------------------------------------------------------- a balance moved
    def on_balance_change(self, account_id: str, customer_id: str, key: aggregates.BalanceKey,
                          buckets: dict, version: int, when: datetime, *, test_clock_id: str | None = None,
                          ) -> list[tuple[WatchRecord, str, Decimal]]:
        """Act on every watch of the balance that this committed change crossed: returns the
        alert crossings to publish (watch, direction, balance after); top-ups are made here.
        `when` is the write's instant (a test clock's customer: its clock's time)."""
        watches = self.store.of_balance(account_id, customer_id, key.type, key.scope)
        if not watches:
            return []
        available = aggregates.available_at(buckets, when)
        out = []
        for crossing in crossings(watches, available):
            watch = crossing.watch
            moved = watch.evolve(state=crossing.new_state, updated_at=when, version=watch.version + 1)
            if watch.kind == "ALERT":
                out.append((watch, crossing.direction, available))
                self._move(moved, watch.version)
            elif crossing.direction == LOW and watch.status == "ACTIVE" and top_ups_left(watch, when) > 0:
                self._top_up(moved, watch, version, when, test_clock_id)
            else:
                self._move(moved, watch.version)
        return out

    def _move(self, moved: WatchRecord, expected: int) -> None:
        try:
            self.store.save(moved, expected)
        except ConcurrentUpdate:
            pass  # moved by a redelivery of the same record, or changed by a PATCH: it looks again next time

    def _top_up(self, moved: WatchRecord, rule: WatchRecord, crossing_version: int, when: datetime,
                test_clock_id: str | None) -> None:
        month = month_of(when)
        counted = moved.evolve(month=month, month_count=(rule.month_count if rule.month == month else 0) + 1)
        template = dict(rule.grant or {})
        if template.get("category", "PAID") == "PAID":
            template.setdefault("generateInvoice", True)  # a PAID top-up requests its invoice
        body = CreateGrantRequest(customerId=rule.customer_id, **template)
        # Everything it writes (the grant, its entry, its notice) is the top_up job's, at the
        # crossing's instant (a test clock's customer: its clock's time, on its clock).
        with acting_as(system_actor("top_up")):
            grant = build_grant(rule.account_id, body, when).evolve(top_up_rule_id=rule.id,
                                                                    test_clock_id=test_clock_id)
            # A top-up whose template requires payment waits for it like any such grant: no GRANTED
            # entry yet, a notice requests its invoice (domain/paid_rules.py).
            entry = None if grant.awaiting_payment else granted_entry(grant, when)
            notices = [invoice_notice(grant, when)] if grant.awaiting_payment else []
            try:
                self.store.top_up(counted, rule.version, grant, entry, claim=f"topup#{rule.id}#{crossing_version}",
                                  notices=notices)
            except ConcurrentUpdate:
                pass  # this crossing's grant exists already (a redelivery), or the rule moved meanwhile
