"""VoidFunction: POST /credit-grants/{grantId}/void."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Body, Path
from credits.api.resolver import account_id, lambda_entry, make_resolver
from credits.api.stripe import routes as stripe_routes
from credits.api.views import grant_view
from credits.container import grant_service
from credits.events.commands import handle_command
from credits.models.api import Grant, VoidGrantRequest

app = make_resolver()
app.include_router(stripe_routes.void_router)


@app.post("/credit-grants/<grantId>/void", summary="Void a credit grant (removes its remaining balance)")
def void_grant(grantId: Annotated[str, Path()], body: Annotated[VoidGrantRequest, Body()]) -> Grant:
    service = grant_service()
    grant = service.void(account_id(app), grantId, body.reason)
    return grant_view(grant, service.now_of(grant))


lambda_handler = lambda_entry(app, commands=handle_command, direct=handle_command)
