"""The consumption queue in: SQS messages of high-volume producers, each `{"accountId",
"consumption": <body of POST /credit-consumptions>}` (the `Consume Credits` command's detail),
fed to the same use case as the HTTP route.

Powertools' BatchProcessor reports each failed message as a partial batch failure, so the rest
of the batch is done and only the failed ones come back; a message that keeps failing (invalid,
a 409 for another body under its eventId, a STRICT one still not covered) goes to the
dead-letter queue after the queue's maxReceiveCount (template.yaml, README "Operations: alarms").
A message delivered twice consumes once: its eventId is the idempotency key.

Several messages of a batch that draw on one customer balance are first tried together, as one
transaction (README "A hot customer"); what that does not take goes one by one as before.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from pydantic import ValidationError

from credits.container import consumption_service
from credits.domain.actors import Actor, acting_as, command_actor
from credits.models.commands import ConsumeCreditsDetail
from credits.telemetry import logger

_processor = BatchProcessor(event_type=EventType.SQS)
# This batch's messages already consumed together: message id -> consumption id.
_TOGETHER: ContextVar[dict[str, str] | None] = ContextVar("consumed_together", default=None)


def is_sqs_event(event: Any) -> bool:
    records = event.get("Records") if isinstance(event, dict) else None
    return bool(records) and isinstance(records, list) and records[0].get("eventSource") == "aws:sqs"


def _actor_of(record: SQSRecord) -> Actor:
    # A queued message acts as a command does: its source (the queue) and its message id.
    source = (record.event_source_arn or "aws:sqs").rsplit(":", 1)[-1]
    return command_actor(f"sqs:{source}", record.message_id)


def _consume(record: SQSRecord) -> str:
    together = _TOGETHER.get() or {}
    if record.message_id in together:
        return together[record.message_id]
    detail = ConsumeCreditsDetail.model_validate_json(record.body)
    with acting_as(_actor_of(record)):
        consumed, _, created = consumption_service().consume(detail.accountId, detail.consumption)
    if not created:
        logger.info("consumption replayed from the queue", extra={"eventId": consumed.event_id})
    return consumed.id


def _consume_together(records: list[SQSRecord]) -> dict[str, str]:
    """A hot customer's messages of this batch drawn together (ConsumptionService.consume_together):
    message id -> consumption id of those committed that way."""
    valid: list[tuple[SQSRecord, ConsumeCreditsDetail]] = []
    for record in records:
        try:
            valid.append((record, ConsumeCreditsDetail.model_validate_json(record.body)))
        except ValidationError:
            continue  # its own path reports it as the batch item failure
    try:
        done = consumption_service().consume_together(
            [(detail.accountId, detail.consumption, _actor_of(record)) for record, detail in valid])
    except Exception:  # noqa: BLE001 - e.g. a throttled read: every message then goes one by one
        logger.exception("consuming the batch's runs together failed; going one by one")
        return {}
    return {valid[index][0].message_id: consumed.id for index, consumed in done.items()}


def handle_queue(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """{"batchItemFailures": [{"itemIdentifier": <messageId>}, …]} for the messages that failed."""
    records = [SQSRecord(raw) for raw in event.get("Records", [])]
    token = _TOGETHER.set(_consume_together(records) if len(records) > 1 else {})
    try:
        return process_partial_response(event=event, record_handler=_consume, processor=_processor, context=context)
    finally:
        _TOGETHER.reset(token)
