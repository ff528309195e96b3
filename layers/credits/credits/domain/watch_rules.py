"""Balance alerts and top-up rules (pure): validation, and what a change of a balance does to
each watch of it. A watch remembers where the balance was (ABOVE / BELOW its threshold), so
each crossing is acted on once, whichever write made it (README "Balance alerts and top-ups")."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from credits.domain import money
from credits.domain.errors import InvalidRequest
from credits.domain.records import WatchRecord

MAX_ALERTS_PER_BALANCE = 10
LOW, RECOVERED = "balance_low", "balance_recovered"


def balance_of(type_: str, currency: str | None, metric_id: str | None) -> tuple[str | None, str | None]:
    """(currency, metricId) of a watch: CASH names a currency, USAGE a metric, never both."""
    if type_ == "CASH":
        if currency is None:
            raise InvalidRequest("currency is required for a CASH balance", field="currency")
        if metric_id is not None:
            raise InvalidRequest("metricId is only for a USAGE balance", field="metricId")
        code = currency.upper()
        if not money.is_supported_currency(code):
            raise InvalidRequest(f"currency {currency!r} is not a supported ISO 4217 currency", field="currency")
        return code, None
    if metric_id is None:
        raise InvalidRequest("metricId is required for a USAGE balance", field="metricId")
    if currency is not None:
        raise InvalidRequest("currency is only for a CASH balance", field="currency")
    return None, metric_id


def parse_threshold(value: str, type_: str, currency: str | None) -> Decimal:
    try:
        if type_ == "CASH":
            assert currency is not None
            return money.parse_money(value, currency, field="threshold")
        return money.parse_units(value, field="threshold")
    except ValueError as exc:
        raise InvalidRequest(str(exc), field="threshold") from None


def state_of(available: Decimal, threshold: Decimal) -> str:
    return "ABOVE" if available >= threshold else "BELOW"


@dataclass(frozen=True, slots=True)
class Crossing:
    watch: WatchRecord
    direction: str  # LOW | RECOVERED
    new_state: str


def crossings(watches: list[WatchRecord], available: Decimal) -> list[Crossing]:
    """The watches whose balance crossed their threshold since they last looked."""
    out = []
    for watch in watches:
        state = state_of(available, watch.threshold)
        if state != watch.state:
            out.append(Crossing(watch, LOW if state == "BELOW" else RECOVERED, state))
    return out


def month_of(now: datetime) -> str:
    return f"{now:%Y-%m}"


def top_ups_left(rule: WatchRecord, now: datetime) -> int:
    used = rule.month_count if rule.month == month_of(now) else 0
    return max(0, rule.max_per_month - used)
