"""Tax-rate use cases (create, get, rename or (de)activate, list): `/tax-rates`, so that a grant's
`taxRateId` can name something real (rules: domain/tax_rate_rules.py)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from credits.domain.actors import current_actor
from credits.domain.clock import utcnow
from credits.domain.errors import InvalidRequest, NotFound
from credits.domain.records import Page, TaxRateRecord
from credits.domain.tax_rate_rules import may_name_tax_rate, new_tax_rate, tax_rate_changes
from credits.models.api import CreateTaxRateRequest, UpdateTaxRateRequest
from credits.services.ports import TaxRateStore


class TaxRateService:
    def __init__(self, store: TaxRateStore, clock: Callable[[], datetime] = utcnow):
        self.store = store
        self.clock = clock

    def create(self, account_id: str, body: CreateTaxRateRequest) -> TaxRateRecord:
        rate = new_tax_rate(account_id, body, self.clock())
        self.store.put_new_tax_rate(rate)
        return rate

    def get(self, account_id: str, tax_rate_id: str) -> TaxRateRecord:
        rate = self.store.get_tax_rate(account_id, tax_rate_id) if may_name_tax_rate(tax_rate_id) else None
        if rate is None:
            raise NotFound(f"tax rate {tax_rate_id} not found", field="taxRateId")
        return rate

    def update(self, account_id: str, tax_rate_id: str, body: UpdateTaxRateRequest) -> TaxRateRecord:
        changes = tax_rate_changes(body)
        if not changes:
            return self.get(account_id, tax_rate_id)
        changes["updated_at"] = self.clock()
        changes["updated_by"] = current_actor()
        rate = self.store.update_tax_rate(account_id, tax_rate_id, changes) if may_name_tax_rate(tax_rate_id) else None
        if rate is None:
            raise NotFound(f"tax rate {tax_rate_id} not found", field="taxRateId")
        return rate

    def list(self, account_id: str, *, limit: int, after: str | None, before: str | None) -> Page:
        if after and before:
            raise InvalidRequest("give after or before, not both", field="before")
        return self.store.list_tax_rates(account_id, limit=limit, after=after, before=before)
