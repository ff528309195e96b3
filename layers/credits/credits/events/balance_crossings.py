"""Stream records of balance aggregates -> balance alerts' events and top-ups. Only committed
writes reach the stream, so no alert fires and no top-up is made for a write that failed; each
record is handled by services/watches.WatchService.on_balance_change, exactly once per crossing
(the watch remembers its side of the threshold; a redelivered record publishes the same ids)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord

from credits.api.views import amount_text, watch_view
from credits.domain import balance_aggregates as aggregates
from credits.domain.clock import from_iso, utcnow
from credits.events.from_stream import _repair_image
from credits.models.events import (
    BALANCE_LOW,
    BALANCE_RECOVERED,
    BalanceCrossedData,
    BalanceLowEvent,
    BalanceRecoveredEvent,
    BaseEvent,
    event_id,
)
from credits.store.items import item_to_balance_key, item_to_buckets


def _images(record: Any) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    raw = record.raw_event if isinstance(record, DynamoDBRecord) else record
    if raw.get("eventName") not in ("INSERT", "MODIFY"):
        return None, None
    change = raw.get("dynamodb") or {}
    parsed = DynamoDBRecord({"dynamodb": {"NewImage": _repair_image(change.get("NewImage") or {}),
                                          "OldImage": _repair_image(change.get("OldImage") or {})}}).dynamodb
    assert parsed is not None
    return parsed.old_image or None, parsed.new_image or None


def balance_events(record: Any, watches) -> list[BaseEvent]:
    """The alert events of a balance aggregate's stream record (none for any other item);
    `watches` builds the WatchService (only for an aggregate's record; it also makes the top-ups
    the record crosses)."""
    old, new = _images(record)
    if not new or new.get("entity") != "BALANCE" or "accountId" not in new:
        return []
    key = item_to_balance_key(new)
    when = from_iso(new.get("updatedAt")) or utcnow()
    version = int(new.get("version", 0))
    after_buckets = item_to_buckets(new)
    before_when = from_iso((old or {}).get("updatedAt")) or when
    before = aggregates.available_at(item_to_buckets(old), before_when)
    write = dict(new.get("lastWrite") or {})
    actor, clock_id = write.pop("actor", None), write.pop("testClockId", None)
    write.pop("at", None)
    crossed = watches().on_balance_change(new["accountId"], new["customerId"], key, after_buckets, version, when,
                                          test_clock_id=clock_id)
    events: list[BaseEvent] = []
    for watch, direction, after in crossed:
        name = BALANCE_LOW if direction == "balance_low" else BALANCE_RECOVERED
        model = BalanceLowEvent if name == BALANCE_LOW else BalanceRecoveredEvent
        data = BalanceCrossedData(
            alert=watch_view(watch).model_dump(mode="json"), type=key.type, currency=key.currency,
            metricId=key.metric_id, threshold=amount_text(watch.threshold, key.type, key.currency),
            balanceBefore=amount_text(before, key.type, key.currency),
            balanceAfter=amount_text(after, key.type, key.currency), write=write)
        # The alert is the write's consequence: it names the write's actor and its test clock.
        events.append(model(id=event_id(new["PK"], new["SK"], str(version), watch.id, name),
                            accountId=new["accountId"], customerId=new["customerId"], grantId=None,
                            occurredAt=new.get("updatedAt") or "", actor=actor, testClockId=clock_id, data=data))
    return events
