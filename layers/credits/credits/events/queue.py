"""The consumption queue in: SQS messages of high-volume producers, each `{"accountId",
"consumption": <body of POST /credit-consumptions>}` (the `Consume Credits` command's detail),
fed to the same use case as the HTTP route.

Powertools' BatchProcessor reports each failed message as a partial batch failure, so the rest
of the batch is done and only the failed ones come back; a message that keeps failing (invalid,
a 409 for another body under its eventId, a STRICT one still not covered) goes to the
dead-letter queue after the queue's maxReceiveCount (template.yaml, README "Operations: alarms").
A message delivered twice consumes once: its eventId is the idempotency key.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from credits.container import consumption_service
from credits.domain.actors import acting_as, command_actor
from credits.models.commands import ConsumeCreditsDetail
from credits.telemetry import logger

_processor = BatchProcessor(event_type=EventType.SQS)


def is_sqs_event(event: Any) -> bool:
    records = event.get("Records") if isinstance(event, dict) else None
    return bool(records) and isinstance(records, list) and records[0].get("eventSource") == "aws:sqs"


def _consume(record: SQSRecord) -> str:
    detail = ConsumeCreditsDetail.model_validate_json(record.body)
    # A queued message acts as a command does: its source (the queue) and its message id.
    source = (record.event_source_arn or "aws:sqs").rsplit(":", 1)[-1]
    with acting_as(command_actor(f"sqs:{source}", record.message_id)):
        consumed, _, created = consumption_service().consume(detail.accountId, detail.consumption)
    if not created:
        logger.info("consumption replayed from the queue", extra={"eventId": consumed.event_id})
    return consumed.id


def handle_queue(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """{"batchItemFailures": [{"itemIdentifier": <messageId>}, …]} for the messages that failed."""
    return process_partial_response(event=event, record_handler=_consume, processor=_processor, context=context)
