"""The console's API (issue 14): `GET /customers` and `/tax-rates`, as two Powertools routers —
writes on GrantFunction (`grant_router`), reads on ListFunction (`list_router`), as template.yaml
maps them."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query

from credits.api.resolver import account_id
from credits.api.views import customer_list_view, tax_rate_list_view, tax_rate_view
from credits.container import customer_service, tax_rate_service
from credits.models.api import (
    CreateTaxRateRequest,
    CustomerList,
    CustomerListQuery,
    PageQuery,
    TaxRate,
    TaxRateList,
    UpdateTaxRateRequest,
)

grant_router = Router()
list_router = Router()

TaxRateId = Annotated[str, Path()]


@list_router.get("/customers", summary="The account's customers with credits, most recent activity first")
def list_customers(q: Annotated[CustomerListQuery, Query()]) -> CustomerList:
    return customer_list_view(customer_service().list(account_id(list_router), prefix=q.customerIdPrefix,
                                                      limit=q.limit, after=q.after, before=q.before))


@grant_router.post("/tax-rates", status_code=201, summary="Create a tax rate")
def create_tax_rate(body: Annotated[CreateTaxRateRequest, Body()]) -> TaxRate:
    return tax_rate_view(tax_rate_service().create(account_id(grant_router), body))


@grant_router.patch("/tax-rates/<taxRateId>", summary="Rename or (de)activate a tax rate")
def update_tax_rate(taxRateId: TaxRateId, body: Annotated[UpdateTaxRateRequest, Body()]) -> TaxRate:
    return tax_rate_view(tax_rate_service().update(account_id(grant_router), taxRateId, body))


@list_router.get("/tax-rates", summary="List the account's tax rates, oldest first")
def list_tax_rates(q: Annotated[PageQuery, Query()]) -> TaxRateList:
    return tax_rate_list_view(tax_rate_service().list(account_id(list_router), limit=q.limit, after=q.after,
                                                      before=q.before))


@list_router.get("/tax-rates/<taxRateId>", summary="Get a tax rate")
def get_tax_rate(taxRateId: TaxRateId) -> TaxRate:
    return tax_rate_view(tax_rate_service().get(account_id(list_router), taxRateId))
