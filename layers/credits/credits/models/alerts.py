"""API models of balance alerts and automatic top-ups (API.md v2 "Balance alerts and automatic
top-ups")."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from credits.models.api import (
    CurrencyCode,
    DecimalString,
    GrantTemplate,
    Identifier,
    Model,
    PageQuery,
    Pagination,
    StrictModel,
)

WatchState = Literal["ABOVE", "BELOW"]
RuleStatus = Literal["ACTIVE", "DISABLED"]
MaxPerMonth = Annotated[int, Field(strict=True, ge=1, le=1000)]


class _WatchRequest(StrictModel):
    """One customer balance (a CASH currency or a USAGE metric) and a threshold on it."""

    customerId: Identifier
    type: Literal["CASH", "USAGE"]
    currency: CurrencyCode | None = None
    metricId: Identifier | None = None
    threshold: DecimalString


class _Watch(Model):
    id: str
    customerId: str
    type: Literal["CASH", "USAGE"]
    currency: str | None
    metricId: str | None
    threshold: str


class CreateAlertRequest(_WatchRequest):
    pass


class Alert(_Watch):
    state: WatchState
    createdAt: str


class AlertList(Model):
    items: list[Alert]
    pagination: Pagination


class WatchListQuery(PageQuery):
    customerId: Identifier | None = None


class CreateTopUpRuleRequest(_WatchRequest):
    grant: GrantTemplate  # type: ignore[valid-type]
    maxPerMonth: MaxPerMonth = 5
    status: RuleStatus = "ACTIVE"


class UpdateTopUpRuleRequest(StrictModel):
    threshold: DecimalString | None = None
    grant: GrantTemplate | None = None  # type: ignore[valid-type]
    maxPerMonth: MaxPerMonth | None = None
    status: RuleStatus | None = None


class TopUpRule(_Watch):
    grant: dict[str, Any]
    maxPerMonth: int
    status: RuleStatus
    createdAt: str
    updatedAt: str


class TopUpRuleList(Model):
    items: list[TopUpRule]
    pagination: Pagination
