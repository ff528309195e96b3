"""PublisherFunction: the table's stream -> the contract's events on the EventBridge bus.

Each record is one committed write; a record whose events the bus does not accept raises, so it
is reported in batchItemFailures and redelivered (with the same event ids) — nothing else. A
committed ledger entry also moves its customer forward in the customer directory (GET
/customers), and every committed change that is an audit event is written to the audit trail
(GET /audit-events), here rather than on the request path; both writes are idempotent, so a
redelivery does no harm."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from credits.container import audit_service, customer_service, publisher, watch_service
from credits.events.balance_crossings import balance_events
from credits.events.from_stream import changed_images, events_from_image, ledger_entries_in
from credits.publish import PublishFailed
from credits.telemetry import count, instrument

processor = BatchProcessor(event_type=EventType.DynamoDBStreams)


def record_handler(record: DynamoDBRecord) -> int:
    old, new = changed_images(record)  # read once: the directory, the audit trail and the events need them
    image = new if old is None else None  # an INSERT
    customer_service().note_activity(ledger_entries_in(image))
    audit_service().note_change(old, new)  # the audit trail (GET /audit-events)
    # A balance aggregate's change: the alerts it crossed (and the top-ups it calls for).
    events = events_from_image(image) + balance_events(record, watch_service)
    if events and not all(publisher().publish(events)):
        raise PublishFailed(f"events of stream record {record.dynamodb.sequence_number} were not all published")
    count("EventsPublished", len(events))
    return len(events)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)


lambda_handler = instrument(handler)
