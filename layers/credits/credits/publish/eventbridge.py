"""EventBridge adapter of the EventPublisher port: PutEvents in batches of 10 (the API's limit),
per-event success reported back so the caller fails exactly the records whose events were lost."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

import boto3
from botocore.config import Config

from credits.models.events import SOURCE
from credits.settings import Settings

logger = logging.getLogger(__name__)

MAX_BATCH = 10


class EventBridgePublisher:
    def __init__(self, settings: Settings, client: Any = None):
        self.settings = settings
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = boto3.client("events", endpoint_url=self.settings.events_endpoint_url,
                                        config=Config(retries={"max_attempts": 5, "mode": "standard"}))
        return self._client

    def entry(self, event: Any) -> dict[str, Any]:
        """An event model (or the envelope as a dict) -> a PutEvents entry."""
        if isinstance(event, dict):
            detail, detail_type = json.dumps(event, separators=(",", ":")), event["type"]
        else:
            detail, detail_type = event.model_dump_json(), event.type
        return {"Source": SOURCE, "DetailType": detail_type, "Detail": detail,
                "EventBusName": self.settings.event_bus_name}

    def publish(self, events: Sequence[Any]) -> list[bool]:
        """Publish events (models or envelope dicts); return per-event success, in order.
        A failed call (network, throttling after retries) marks its whole batch failed."""
        results: list[bool] = []
        for start in range(0, len(events), MAX_BATCH):
            batch = [self.entry(e) for e in events[start:start + MAX_BATCH]]
            try:
                response = self.client.put_events(Entries=batch)
            except Exception:  # noqa: BLE001 - reported as failures; the stream record is retried
                logger.exception("PutEvents failed", extra={"count": len(batch)})
                results.extend([False] * len(batch))
                continue
            for sent, outcome in zip(batch, response.get("Entries", []), strict=False):
                ok = "EventId" in outcome and not outcome.get("ErrorCode")
                if not ok:
                    logger.error("event not accepted", extra={"detailType": sent["DetailType"],
                                                              "errorCode": outcome.get("ErrorCode"),
                                                              "errorMessage": outcome.get("ErrorMessage")})
                results.append(ok)
            results.extend([False] * (len(batch) - len(response.get("Entries", []))))
        return results

    def put_work(self, source: str, detail_type: str, detail: dict[str, Any]) -> None:
        """An internal work item on the bus (not an event of the contract: another `source`, so
        the webhook rule ignores it); a rule sends it to the function that does the work."""
        response = self.client.put_events(Entries=[{"Source": source, "DetailType": detail_type,
                                                    "Detail": json.dumps(detail, separators=(",", ":")),
                                                    "EventBusName": self.settings.event_bus_name}])
        if response.get("FailedEntryCount"):
            raise RuntimeError(f"{detail_type} was not accepted by the bus: {response.get('Entries')}")
