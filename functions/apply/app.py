"""ApplyFunction: POST /credit-applications, …/preview, …/{invoiceId}/settle, …/{invoiceId}/release."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Path
from credits.api.json_body import JSON
from credits.api.resolver import account_id, lambda_entry, make_resolver
from credits.api.views import application_view
from credits.container import application_service
from credits.events.entry import handle_command
from credits.models.api import Application, ApplyRequest, TransitionRequest

app = make_resolver()


@app.post("/credit-applications", status_code=201, summary="Apply credits to an invoice (201; 200 on a replay)",
          responses={200: {"description": "identical replay: the stored application"}})
def apply_credits(body: Annotated[ApplyRequest, Body()]) -> Response[Application]:
    application, created = application_service().apply(account_id(app), body)
    return Response(status_code=201 if created else 200, content_type=JSON, body=application_view(application))


@app.post("/credit-applications/preview", summary="What applying credits would do; writes nothing")
def preview(body: Annotated[ApplyRequest, Body()]) -> Application:
    return application_view(application_service().preview(account_id(app), body))


@app.post("/credit-applications/<invoiceId>/settle", summary="Invoice paid: pending credits become consumed")
def settle(invoiceId: Annotated[str, Path()], body: Annotated[TransitionRequest | None, Body()] = None) -> Application:
    return application_view(application_service().settle(account_id(app), invoiceId))


@app.post("/credit-applications/<invoiceId>/release", summary="Invoice voided: applied credits go back")
def release(invoiceId: Annotated[str, Path()], body: Annotated[TransitionRequest | None, Body()] = None) -> Application:
    return application_view(application_service().release(account_id(app), invoiceId))


lambda_handler = lambda_entry(app, commands=handle_command, direct=handle_command)
