"""The cold-start floor of the libraries every HTTP function is built on, with no code of ours:
Powertools' Logger and Metrics around its validating resolver, one pydantic body model, one
boto3 client and one GetItem. bench.coldstart runs it as a handler next to the functions, so
BENCHMARKS.md shows how much of a function's cold start is the stack's and how much is ours."""

import os
from typing import Annotated

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from aws_lambda_powertools.event_handler.openapi.params import Body
from pydantic import BaseModel

logger = Logger(service="library-floor")
metrics = Metrics(namespace="LibraryFloor", service="library-floor")
app = APIGatewayRestResolver(enable_validation=True)
client = boto3.client("dynamodb", endpoint_url=os.environ.get("DYNAMODB_ENDPOINT_URL"))


class Thing(BaseModel):
    name: str


@app.post("/things")
def create_thing(body: Annotated[Thing, Body()]) -> Thing:
    client.get_item(TableName=os.environ["TABLE_NAME"], Key={"PK": {"S": "THING"}, "SK": {"S": body.name}})
    return body


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event, context):
    return app.resolve(event, context)
