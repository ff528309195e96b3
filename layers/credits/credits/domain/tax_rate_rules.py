"""Tax-rate rules (pure): a new rate from a create request, what a PATCH changes, and the snapshot
a grant keeps of the rate its `taxRateId` names.

A grant's `taxRateId` stays a free string. When it names a tax rate of the account at the moment
the grant is created, the grant keeps a snapshot `{"name", "percentage"}` of it (`taxRate` on
reads and in `account.credits.invoice_requested`): the invoice is for the rate the grant was made
with, and renaming or deactivating the rate later does not rewrite the grants made with it."""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from typing import Any

from credits.domain.errors import InvalidRequest
from credits.domain.ids import new_tax_rate_id
from credits.domain.records import TaxRateRecord
from credits.models.api import CreateTaxRateRequest, UpdateTaxRateRequest

TAX_RATE_ID_PREFIX = "txr_"
_PERCENT = re.compile(r"^[0-9]{1,3}(\.[0-9]{1,4})?$")
_MAX_ID_LENGTH = 255


def parse_percentage(value: str) -> str:
    """A plain decimal string between 0 and 100 with at most 4 fractional digits, kept as given."""
    if not _PERCENT.match(value):
        raise InvalidRequest("percentage must be a plain decimal string between 0 and 100 with at most 4 "
                             "fractional digits", field="percentage")
    if Decimal(value) > 100:
        raise InvalidRequest("percentage must be at most 100", field="percentage")
    return value


def new_tax_rate(account_id: str, body: CreateTaxRateRequest, now: datetime) -> TaxRateRecord:
    return TaxRateRecord(id=new_tax_rate_id(), account_id=account_id, name=body.name,
                         percentage=parse_percentage(body.percentage), inclusive=body.inclusive,
                         active=body.active, created_at=now, updated_at=now)


def tax_rate_changes(body: UpdateTaxRateRequest) -> dict[str, Any]:
    """The record fields a PATCH sets (none when it names nothing to change)."""
    return {name: value for name, value in (("name", body.name), ("active", body.active)) if value is not None}


def may_name_tax_rate(tax_rate_id: str | None) -> bool:
    """Whether an id (a path parameter or a grant's taxRateId) can be one of ours: an id of another
    shape is simply not found, without a read."""
    return bool(tax_rate_id) and tax_rate_id.startswith(TAX_RATE_ID_PREFIX) \
        and len(tax_rate_id) <= _MAX_ID_LENGTH and "#" not in tax_rate_id


def snapshot(rate: TaxRateRecord | None) -> dict[str, str] | None:
    """What a grant keeps of the tax rate its taxRateId names when it is created."""
    return {"name": rate.name, "percentage": rate.percentage} if rate is not None else None
