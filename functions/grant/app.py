"""GrantFunction: POST /credit-grants, PATCH and DELETE /credit-grants/{grantId}."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Path
from credits.api.resolver import account_id, lambda_entry, make_resolver, request_key
from credits.api.routes import api_keys as api_key_routes
from credits.api.routes import console as console_routes
from credits.api.routes import schedules as schedule_routes
from credits.api.stripe import routes as stripe_routes
from credits.api.views import grant_view
from credits.container import grant_service
from credits.events.entry import handle_command
from credits.models.api import CreateGrantRequest, Grant, UpdateGrantRequest

app = make_resolver()
app.include_router(stripe_routes.grant_router)
app.include_router(schedule_routes.grant_router)
app.include_router(console_routes.grant_router)
app.include_router(api_key_routes.grant_router)


@app.post("/credit-grants", status_code=201, summary="Create a credit grant")
def create_grant(body: Annotated[CreateGrantRequest, Body()]) -> Grant:
    service = grant_service()
    grant = service.create(account_id(app), body, request_key=request_key(app))
    return grant_view(grant, service.now_of(grant))


@app.patch("/credit-grants/<grantId>", summary="Update a credit grant's name, metadata, priority or expiry")
def update_grant(grantId: Annotated[str, Path()], body: Annotated[UpdateGrantRequest, Body()]) -> Grant:
    service = grant_service()
    grant = service.patch(account_id(app), grantId, body)
    return grant_view(grant, service.now_of(grant))


@app.delete("/credit-grants/<grantId>", status_code=204, summary="Delete a grant that nothing was applied from")
def delete_grant(grantId: Annotated[str, Path()]) -> Response[None]:
    grant_service().delete(account_id(app), grantId)
    return Response(status_code=204, body=None)


lambda_handler = lambda_entry(app, commands=handle_command, direct=handle_command)
