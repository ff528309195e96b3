"""ListFunction: every GET route."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from credits.api import views
from credits.api.resolver import account_id, lambda_entry, make_resolver
from credits.api.routes import api_keys as api_key_routes
from credits.api.routes import console as console_routes
from credits.api.routes import schedules as schedule_routes
from credits.api.routes import watches as watch_routes
from credits.api.stripe import routes as stripe_routes
from credits.api.swagger import enable_swagger
from credits.container import application_service, consumption_service, query_service
from credits.models import api as models
from credits.models.consumptions import Consumption, Entitlement, EventId
from credits.services.ports import GrantQuery, LedgerQuery

app = make_resolver()
app.include_router(stripe_routes.list_router)
app.include_router(schedule_routes.list_router)
app.include_router(watch_routes.list_router)
app.include_router(console_routes.list_router)
app.include_router(api_key_routes.list_router)
enable_swagger(app, path="/swagger")  # GET /swagger: Swagger UI, 404 unless ENABLE_SWAGGER=true


@app.get("/credit-grants", summary="List credit grants, newest first")
def list_grants(q: Annotated[models.GrantListQuery, Query()]) -> models.GrantList:
    query = GrantQuery(customer_id=q.customerId, status=q.status, type=q.type, currency=q.currency,
                       metric_id=q.metricId, limit=q.limit, after=q.after, before=q.before)
    return views.grant_list_view(*query_service().list_grants(account_id(app), query))


@app.get("/credit-grants/<grantId>", summary="Get a credit grant")
def get_grant(grantId: Annotated[str, Path()]) -> models.Grant:
    return views.grant_view(*query_service().get_grant(account_id(app), grantId))


@app.get("/customers/<customerId>/credit-balance", summary="A customer's credit balances, in real time")
def get_balance(customerId: Annotated[models.Identifier, Path()],
                expiringWithinDays: Annotated[int, Query(ge=1, le=365)] = 30) -> models.CreditBalance:
    return views.balance_view(customerId, *query_service().balance(account_id(app), customerId, expiringWithinDays))


@app.get("/customers/<customerId>/credit-transactions", summary="A customer's ledger entries, oldest first")
def list_transactions(customerId: Annotated[models.Identifier, Path()],
                      q: Annotated[models.TransactionListQuery, Query()]) -> models.LedgerEntryList:
    query = LedgerQuery(grant_id=q.grantId, type=q.type, start=q.from_, end=q.to, limit=q.limit, after=q.after,
                        before=q.before)
    return views.ledger_list_view(query_service().transactions(account_id(app), customerId, query))


@app.get("/credit-applications/<invoiceId>", summary="Get the credit application of an invoice")
def get_application(invoiceId: Annotated[str, Path()]) -> models.Application:
    return views.application_view(application_service().get(account_id(app), invoiceId))


@app.get("/reports/credits", summary="Credit activity in a window and the liability outstanding at its end")
def get_report(q: Annotated[models.ReportQuery, Query()]) -> models.CreditReport:
    return query_service().report(account_id(app), q.from_, q.to, customer_id=q.customerId, grant_type=q.type,
                                  currency=q.currency)


@app.get("/credit-consumptions/<eventId>", summary="Get a consumption by its eventId")
def get_consumption(eventId: Annotated[EventId, Path()]) -> Consumption:
    return views.consumption_view(*consumption_service().get(account_id(app), eventId))


@app.get("/customers/<customerId>/entitlements/<metricId>",
         summary="May this customer use this metric now? (constant cost in its number of grants)")
def get_entitlement(customerId: Annotated[models.Identifier, Path()],
                    metricId: Annotated[models.Identifier, Path()]) -> Entitlement:
    decision = consumption_service().entitlement(account_id(app), customerId, metricId)
    return views.entitlement_view(customerId, metricId, *decision)


lambda_handler = lambda_entry(app)
