"""Event delivery adapters (the EventPublisher port). `publisher()` gives the process-wide one."""

from __future__ import annotations

from functools import lru_cache

from credits.settings import Settings, get_settings


class PublishFailed(Exception):
    """Some events of a record were not accepted by the bus (the record is retried)."""


@lru_cache(maxsize=4)
def _publisher_for(settings: Settings):
    from credits.publish.eventbridge import EventBridgePublisher

    return EventBridgePublisher(settings)


def publisher():
    # Keyed on the settings, so credits.container.reset() (new settings) also gives a new client.
    return _publisher_for(get_settings())
