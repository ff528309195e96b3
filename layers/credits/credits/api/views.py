"""Every record -> response, in one place: domain records to the contract's API models."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from credits.domain import money
from credits.domain.application_rules import visible_status
from credits.domain.balances import BalanceTotals
from credits.domain.burndown import BurnLine, summarize
from credits.domain.clock import expiry_date_of, to_iso
from credits.domain.customer_rules import CustomerSummary as CustomerSummaryRecord
from credits.domain.records import (
    ApiKeyRecord,
    ApplicationRecord,
    AuditRecord,
    ConsumptionRecord,
    GrantRecord,
    LedgerRecord,
    Page,
    ScheduleRecord,
    TaxRateRecord,
    TestClockRecord,
    WatchRecord,
)
from credits.models.alerts import Alert, AlertList, TopUpRule, TopUpRuleList
from credits.models.api import (
    Actor,
    Allocation,
    ApiKey,
    ApiKeyList,
    AuditEvent,
    AuditEventList,
    AuditResource,
    Application,
    ApplicationLine,
    BalanceRow,
    CreatedApiKey,
    CreditBalance,
    CustomerList,
    CustomerSummary,
    Grant,
    GrantList,
    LedgerEntry,
    LedgerEntryList,
    Pagination,
    Schedule,
    TaxRate,
    TaxRateList,
    TestClock,
    TestClockCustomer,
    TestClockCustomerList,
    TestClockList,
)
from credits.models.consumptions import (
    BatchResult,
    CashEntitlement,
    ConsumeBatchResponse,
    Consumption,
    ConsumptionAllocation,
    Coverage,
    Entitlement,
)


def amount_text(value: Decimal, grant_type: str, currency: str | None, scale: int | None = None) -> str:
    """A grant's amounts are shown at the scale its amount was given with ("10" stays "10",
    "12.50" stays "12.50"), widened when a value needs more digits; zero reads "0". Without a
    known scale: CASH in the currency's digits, units as plain decimals."""
    if scale is not None:
        if value == 0:
            return "0"
        natural = max(0, -value.normalize().as_tuple().exponent)
        return format(value.quantize(Decimal(1).scaleb(-max(scale, natural))), "f")
    if grant_type == "CASH" and currency:
        return money.format_money(value, currency)
    return money.format_units(value)


def grant_view(grant: GrantRecord, now: datetime) -> Grant:
    def amt(value: Decimal) -> str:
        return amount_text(value, grant.type, grant.currency, grant.amount_scale)

    if grant.type == "CASH":
        cost = amt(grant.cost_of_credit)
    else:
        cost = money.format_money(grant.cost_of_credit, grant.currency) if grant.currency else money.format_units(grant.cost_of_credit)
    return Grant(
        id=grant.id, accountId=grant.account_id, customerId=grant.customer_id, name=grant.name, type=grant.type,
        currency=grant.currency, metricId=grant.metric_id, originalAmount=amt(grant.original_amount),
        currentBalance=amt(grant.balance_at(now)), pendingAmount=amt(grant.pending_amount), costOfCredit=cost,
        pricePerUnit=money.format_price(grant.price_per_unit) if grant.price_per_unit is not None else None,
        category=grant.category, priority=grant.priority, taxRateId=grant.tax_rate_id,
        taxRate=dict(grant.tax_rate) if grant.tax_rate is not None else None,
        effectiveAt=to_iso(grant.effective_at), effectiveDate=grant.effective_at.date().isoformat(),
        expiresAt=to_iso(grant.expires_at),
        expiryDate=d.isoformat() if (d := expiry_date_of(grant.expires_at)) else None,
        status=grant.status_at(now), reason=grant.reason, metadata=dict(grant.metadata),
        applicability={"metricIds": list(grant.applicable_metric_ids)} if grant.applicable_metric_ids is not None else None,
        invoiceRequested=grant.invoice_requested, scheduleId=grant.schedule_id, topUpRuleId=grant.top_up_rule_id,
        createdAt=to_iso(grant.created_at), updatedAt=to_iso(grant.updated_at), voidedAt=to_iso(grant.voided_at),
        voidReason=grant.void_reason, expiredAt=to_iso(grant.expired_at),
        requirePayment=grant.require_payment, rolledOverFrom=grant.rolled_over_from,
    )


def entry_view(entry: LedgerRecord) -> LedgerEntry:
    grant_type = entry.context.get("grantType", "CASH")
    currency = entry.context.get("currency")
    scale = entry.context.get("amountScale")
    scale = int(scale) if scale is not None else None
    return LedgerEntry(
        id=entry.id, grantId=entry.grant_id, customerId=entry.customer_id, type=entry.type,
        amount=amount_text(entry.amount, grant_type, currency, scale),
        balanceAfter=amount_text(entry.balance_after, grant_type, currency, scale),
        invoiceId=entry.invoice_id, lineId=entry.line_id, reason=entry.reason, createdAt=to_iso(entry.created_at),
        actor=actor_view(entry.actor),
    )


def schedule_view(schedule: ScheduleRecord) -> Schedule:
    return Schedule(
        id=schedule.id, customerId=schedule.customer_id, grant=dict(schedule.template), interval=schedule.interval,
        intervalCount=schedule.interval_count, startAt=to_iso(schedule.start_at), endAt=to_iso(schedule.end_at),
        expireAfterIntervals=schedule.expire_after_intervals, status=schedule.status,
        nextGrantAt=to_iso(schedule.next_grant_at) if schedule.status == "ACTIVE" else None,
        createdAt=to_iso(schedule.created_at), updatedAt=to_iso(schedule.updated_at),
        # In the unit of the grants it makes: a CASH template's currency digits ("3.00").
        rollover=({"maxAmount": amount_text(schedule.rollover_max, schedule.template.get("type", "CASH"),
                                            schedule.template.get("currency"))}
                  if schedule.rollover_max is not None else None),
        actor=actor_view(schedule.actor), canceledBy=actor_view(schedule.canceled_by),
    )


def pagination(page: Page) -> Pagination:
    return Pagination(after=page.after, before=page.before, totalResultSize=page.total)


def grant_list_view(page: Page, now: datetime, clock_times: dict[str, datetime] | None = None) -> GrantList:
    """Each grant at `now`, or at its test clock's time (`clock_times`: test clock id -> now)."""
    times = clock_times or {}
    return GrantList(items=[grant_view(g, times.get(g.test_clock_id or "", now)) for g in page.items],
                     pagination=pagination(page))


def ledger_list_view(page: Page) -> LedgerEntryList:
    return LedgerEntryList(items=[entry_view(e) for e in page.items], pagination=pagination(page))


def balance_row(row: BalanceTotals) -> BalanceRow:
    def text(value: Decimal) -> str:
        return money.format_money(value, row.currency) if row.type == "CASH" and row.currency else money.format_units(value)

    return BalanceRow(type=row.type, currency=row.currency, metricId=row.metric_id, available=text(row.available),
                      pending=text(row.pending), expiringSoon=text(row.expiring), grantCount=row.grant_count)


def balance_view(customer_id: str, rows: list[BalanceTotals], now: datetime) -> CreditBalance:
    return CreditBalance(customerId=customer_id, asOf=to_iso(now), balances=[balance_row(r) for r in rows])


def customer_view(summary: CustomerSummaryRecord) -> CustomerSummary:
    return CustomerSummary(customerId=summary.customer_id, balances=[balance_row(r) for r in summary.balances],
                           grantCount=summary.grant_count, lastActivityAt=to_iso(summary.last_activity_at))


def customer_list_view(page: Page) -> CustomerList:
    return CustomerList(items=[customer_view(c) for c in page.items], pagination=pagination(page))


def tax_rate_view(rate: TaxRateRecord) -> TaxRate:
    return TaxRate(id=rate.id, name=rate.name, percentage=rate.percentage, inclusive=rate.inclusive,
                   active=rate.active, createdAt=to_iso(rate.created_at), updatedAt=to_iso(rate.updated_at))


def tax_rate_list_view(page: Page) -> TaxRateList:
    return TaxRateList(items=[tax_rate_view(r) for r in page.items], pagination=pagination(page))


def application_view(app: ApplicationRecord) -> Application:
    lines = [BurnLine(l["lineId"], l.get("metricId"), Decimal(l["amount"])) for l in app.lines]
    summary = summarize(lines, app.allocations, app.currency)
    cur = app.currency
    return Application(
        invoiceId=app.invoice_id, customerId=app.customer_id, currency=cur,
        status=visible_status(app),
        subtotal=money.format_money(summary.subtotal, cur), creditsApplied=money.format_money(summary.credits_applied, cur),
        totalDue=money.format_money(summary.total_due, cur),
        lines=[ApplicationLine(lineId=r.line_id, amount=money.format_money(r.amount, cur),
                               creditsApplied=money.format_money(r.credits_applied, cur),
                               amountDue=money.format_money(r.amount_due, cur)) for r in summary.lines],
        allocations=[Allocation(grantId=a.grant_id, type=a.type, lineId=a.line_id,
                                units=money.format_units(a.units) if a.units is not None else None,
                                value=money.format_money(a.value, cur)) for a in app.allocations],
        createdAt=to_iso(app.created_at), updatedAt=to_iso(app.updated_at), actor=actor_view(app.actor),
    )


# ---------------------------------------------------------------- real-time consumption (v2)
def consumption_view(record: ConsumptionRecord, balances: list[BalanceTotals]) -> Consumption:
    cur = record.currency

    def value(amount: Decimal | None) -> str | None:
        if amount is None:
            return None
        return money.format_money(amount, cur) if cur else money.format_units(amount)

    def units(amount: Decimal | None) -> str | None:
        return None if amount is None else money.format_units(amount)

    return Consumption(
        id=record.id, eventId=record.event_id, customerId=record.customer_id, metricId=record.metric_id,
        currency=cur, quantity=units(record.quantity), amount=value(record.amount), mode=record.mode,
        covered=Coverage(units=units(record.covered_units), value=value(record.covered_value)),
        uncovered=Coverage(units=units(record.uncovered_units), value=value(record.uncovered_value)),
        allocations=[ConsumptionAllocation(grantId=a.grant_id, type=a.type, units=units(a.units), value=value(a.value))
                     for a in record.allocations],
        balances=[balance_row(b) for b in balances], createdAt=to_iso(record.created_at))


def consumption_batch_view(results: list[tuple[int, object]]) -> ConsumeBatchResponse:
    out = []
    for status, result in results:
        if status in (200, 201):
            record, balances = result  # type: ignore[misc]
            out.append(BatchResult(status=status, consumption=consumption_view(record, balances)))
        else:
            out.append(BatchResult(status=status, error=result["error"]))  # type: ignore[index]
    return ConsumeBatchResponse(results=out)


def entitlement_view(customer_id: str, metric_id: str, units: Decimal, cash: list[tuple[str, Decimal]],
                     now: datetime) -> Entitlement:
    return Entitlement(customerId=customer_id, metricId=metric_id, hasAccess=units > 0 or any(a > 0 for _, a in cash),
                       units=money.format_units(units),
                       cash=[CashEntitlement(currency=c, available=money.format_money(a, c)) for c, a in cash],
                       asOf=to_iso(now))


# ---------------------------------------------------------------- balance alerts and top-up rules (v2)
def _threshold(watch: WatchRecord) -> str:
    return money.format_money(watch.threshold, watch.currency) if watch.type == "CASH" and watch.currency \
        else money.format_units(watch.threshold)


def watch_view(watch: WatchRecord) -> Alert:
    return Alert(id=watch.id, customerId=watch.customer_id, type=watch.type, currency=watch.currency,
                 metricId=watch.metric_id, threshold=_threshold(watch), state=watch.state,
                 createdAt=to_iso(watch.created_at))


def rule_view(rule: WatchRecord) -> TopUpRule:
    return TopUpRule(id=rule.id, customerId=rule.customer_id, type=rule.type, currency=rule.currency,
                     metricId=rule.metric_id, threshold=_threshold(rule), grant=dict(rule.grant or {}),
                     maxPerMonth=rule.max_per_month, status=rule.status, createdAt=to_iso(rule.created_at),
                     updatedAt=to_iso(rule.updated_at))


def alert_list_view(page: Page) -> AlertList:
    return AlertList(items=[watch_view(w) for w in page.items], pagination=pagination(page))


def rule_list_view(page: Page) -> TopUpRuleList:
    return TopUpRuleList(items=[rule_view(w) for w in page.items], pagination=pagination(page))


def actor_view(actor: dict[str, str] | None) -> Actor | None:
    return Actor.model_validate(actor) if actor else None


def api_key_view(key: ApiKeyRecord) -> ApiKey:
    return ApiKey(id=key.id, name=key.name, scope=key.scope, createdAt=to_iso(key.created_at),
                  lastUsedAt=to_iso(key.last_used_at), revokedAt=to_iso(key.revoked_at),
                  createdBy=actor_view(key.actor), revokedBy=actor_view(key.revoked_by))


def created_api_key_view(key: ApiKeyRecord, secret: str) -> CreatedApiKey:
    return CreatedApiKey(**api_key_view(key).model_dump(), key=secret)


def api_key_list_view(page: Page) -> ApiKeyList:
    return ApiKeyList(items=[api_key_view(k) for k in page.items], pagination=pagination(page))


def audit_event_view(record: AuditRecord) -> AuditEvent:
    return AuditEvent(id=record.id, occurredAt=to_iso(record.occurred_at), actor=actor_view(record.actor),
                      action=record.action, resource=AuditResource(type=record.resource_type, id=record.resource_id),
                      customerId=record.customer_id, reason=record.reason, data=dict(record.data))


def audit_event_list_view(page: Page) -> AuditEventList:
    return AuditEventList(items=[audit_event_view(r) for r in page.items], pagination=pagination(page))


def test_clock_view(clock: TestClockRecord) -> TestClock:
    return TestClock(id=clock.id, name=clock.name, frozenTime=to_iso(clock.frozen_time), status=clock.status,
                     createdAt=to_iso(clock.created_at),
                     advancingTo=to_iso(clock.target_time) if clock.status == "ADVANCING" else None)


def test_clock_list_view(page: Page) -> TestClockList:
    return TestClockList(items=[test_clock_view(c) for c in page.items], pagination=pagination(page))


def test_clock_customer_view(clock: TestClockRecord, customer_id: str) -> TestClockCustomer:
    return TestClockCustomer(customerId=customer_id, testClockId=clock.id, frozenTime=to_iso(clock.frozen_time))


def test_clock_customer_list_view(clock: TestClockRecord, page: Page) -> TestClockCustomerList:
    return TestClockCustomerList(items=[test_clock_customer_view(clock, c) for c in page.items],
                                 pagination=pagination(page))
