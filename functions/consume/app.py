"""ConsumeFunction: POST /credit-consumptions, …/batch, the `Consume Credits` command, the
consumption queue (SQS, partial batch failures), and the writes of /credit-balance-alerts and
/credit-top-up-rules."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body
from credits.api.json_body import JSON
from credits.api.resolver import account_id, lambda_entry, make_resolver
from credits.api.routes import watches as watch_routes
from credits.api.views import consumption_batch_view, consumption_view
from credits.container import consumption_service
from credits.events.entry import handle_command, handle_queue_or_command
from credits.models.consumptions import ConsumeBatchRequest, ConsumeBatchResponse, ConsumeRequest, Consumption

app = make_resolver()
app.include_router(watch_routes.write_router)


@app.post("/credit-consumptions", status_code=201, summary="Consume credits now (201; 200 on a replay of the eventId)",
          responses={200: {"description": "replay of the same eventId and body: the stored consumption"},
                     402: {"description": "STRICT and usable credits cannot cover it: nothing consumed"}})
def consume(body: Annotated[ConsumeRequest, Body()]) -> Response[Consumption]:
    record, balances, created = consumption_service().consume(account_id(app), body)
    return Response(status_code=201 if created else 200, content_type=JSON, body=consumption_view(record, balances))


@app.post("/credit-consumptions/batch", summary="Up to 100 consumptions, each answered on its own")
def consume_batch(body: Annotated[ConsumeBatchRequest, Body()]) -> ConsumeBatchResponse:
    return consumption_batch_view(consumption_service().consume_many(account_id(app), body.consumptions))


lambda_handler = lambda_entry(app, commands=handle_command, direct=handle_queue_or_command)
