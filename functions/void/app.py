"""VoidFunction: POST /credit-grants/{grantId}/void, …/payment and …/adjustments (the changes
to an existing grant's balance), and the `Void Credit Grant` / `Record Credit Payment` commands."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Body, Path
from credits.api.resolver import account_id, lambda_entry, make_resolver
from credits.api.stripe import routes as stripe_routes
from credits.api.views import entry_view, grant_view
from credits.container import grant_service
from credits.events.entry import handle_command
from credits.models.api import AdjustmentRequest, Grant, LedgerEntry, PaymentRequest, VoidGrantRequest

app = make_resolver()
app.include_router(stripe_routes.void_router)

GrantId = Annotated[str, Path()]


@app.post("/credit-grants/<grantId>/void", summary="Void a credit grant (removes its remaining balance)")
def void_grant(grantId: GrantId, body: Annotated[VoidGrantRequest, Body()]) -> Grant:
    service = grant_service()
    grant = service.void(account_id(app), grantId, body.reason, refund=body.refund)
    return grant_view(grant, service.now_of(grant))


@app.post("/credit-grants/<grantId>/payment", summary="Record the payment (PAID or FAILED) of a grant that requires it")
def record_payment(grantId: GrantId, body: Annotated[PaymentRequest, Body()]) -> Grant:
    service = grant_service()
    grant = service.record_payment(account_id(app), grantId, body.status, body.invoiceId)
    return grant_view(grant, service.now_of(grant))


@app.post("/credit-grants/<grantId>/adjustments", status_code=201,
          summary="Adjust a grant's balance up or down (an ADJUSTED_UP / ADJUSTED_DOWN ledger entry)")
def adjust_grant(grantId: GrantId, body: Annotated[AdjustmentRequest, Body()]) -> LedgerEntry:
    entry = grant_service().adjust(account_id(app), grantId, body.direction, body.amount, body.reason)
    return entry_view(entry)


lambda_handler = lambda_entry(app, commands=handle_command, direct=handle_command)
