"""ListFunction: every GET route."""

from __future__ import annotations

from typing import Annotated, Literal

from aws_lambda_powertools.event_handler.openapi.params import Path, Query

from credits.api.resolver import account_id, lambda_entry, make_resolver
from credits.container import application_service, query_service
from credits.models.api import (
    Application,
    CreditBalance,
    Grant,
    GrantList,
    Identifier,
    LedgerEntryList,
    SupportedCurrency,
    Timestamp,
)
from credits.api.swagger import enable_swagger
from credits.domain.report_rules import CreditReport
from credits.api.routes import schedules as schedule_routes
from credits.api.stripe import routes as stripe_routes

app = make_resolver()
app.include_router(stripe_routes.list_router)
app.include_router(schedule_routes.list_router)
enable_swagger(app, path="/swagger")  # GET /swagger: Swagger UI, 404 unless ENABLE_SWAGGER=true

Limit = Annotated[int, Query(ge=1, le=100)]
CurrencyFilter = Annotated[SupportedCurrency | None, Query()]
Cursor = Annotated[str | None, Query(max_length=2048)]


@app.get("/credit-grants", summary="List credit grants, newest first")
def list_grants(
    customerId: Annotated[Identifier | None, Query()] = None,
    status: Annotated[Literal["SCHEDULED", "ACTIVE", "DEPLETED", "EXPIRED", "VOIDED"] | None, Query()] = None,
    type: Annotated[Literal["CASH", "USAGE"] | None, Query()] = None,
    currency: CurrencyFilter = None,
    metricId: Annotated[Identifier | None, Query()] = None,
    limit: Limit = 20,
    after: Cursor = None,
    before: Cursor = None,
) -> GrantList:
    from credits.store.dynamo import GrantQuery

    query = GrantQuery(customer_id=customerId, status=status, type=type, currency=currency,
                       metric_id=metricId, limit=limit, after=after, before=before)
    return query_service().list_grants(account_id(app), query)


@app.get("/credit-grants/<grantId>", summary="Get a credit grant")
def get_grant(grantId: Annotated[str, Path()]) -> Grant:
    return query_service().get_grant(account_id(app), grantId)


@app.get("/customers/<customerId>/credit-balance", summary="A customer's credit balances, in real time")
def get_balance(
    customerId: Annotated[Identifier, Path()],
    expiringWithinDays: Annotated[int, Query(ge=1, le=365)] = 30,
) -> CreditBalance:
    return query_service().balance(account_id(app), customerId, expiringWithinDays)


@app.get("/customers/<customerId>/credit-transactions", summary="A customer's ledger entries, oldest first")
def list_transactions(
    customerId: Annotated[Identifier, Path()],
    grantId: Annotated[Identifier | None, Query()] = None,
    type: Annotated[Literal["GRANTED", "APPLIED", "SETTLED", "RELEASED", "EXPIRED", "VOIDED", "EXPIRY_CHANGED",
                            "DELETED"] | None, Query()] = None,
    from_: Annotated[Timestamp | None, Query(alias="from")] = None,
    to: Annotated[Timestamp | None, Query()] = None,
    limit: Limit = 20,
    after: Cursor = None,
    before: Cursor = None,
) -> LedgerEntryList:
    from credits.store.dynamo import LedgerQuery

    query = LedgerQuery(grant_id=grantId, type=type, start=from_, end=to, limit=limit, after=after, before=before)
    return query_service().transactions(account_id(app), customerId, query)


@app.get("/credit-applications/<invoiceId>", summary="Get the credit application of an invoice")
def get_application(invoiceId: Annotated[str, Path()]) -> Application:
    return application_service().get(account_id(app), invoiceId)


@app.get("/reports/credits", summary="Credit activity in a window and the liability outstanding at its end")
def get_report(
    from_: Annotated[Timestamp, Query(alias="from")],
    to: Annotated[Timestamp, Query()],
    customerId: Annotated[Identifier | None, Query()] = None,
    type: Annotated[Literal["CASH", "USAGE"] | None, Query()] = None,
    currency: CurrencyFilter = None,
) -> CreditReport:
    return query_service().report(account_id(app), from_, to, customer_id=customerId, grant_type=type,
                                  currency=currency)


lambda_handler = lambda_entry(app)
