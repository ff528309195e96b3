"""Settings read once from the environment into a validated model."""

from __future__ import annotations

import os
from functools import lru_cache

from pydantic import BaseModel, ConfigDict, Field


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True)

    # Required, no defaults: template.yaml sets them for every function; the local stack and the
    # tests set development values.
    table_name: str = Field(min_length=1)
    dynamodb_endpoint_url: str | None = None
    event_bus_name: str = "credits-local"
    events_endpoint_url: str | None = None
    expiring_soon_lead_days: int = Field(default=7, ge=1, le=365)
    livemode: bool = False
    enable_swagger: bool = False
    # Bounded optimistic-concurrency retries before a conflict is answered 409.
    max_write_attempts: int = Field(default=50, ge=1)
    # The scheduled run finishes a chunked application left alone this long after its last chunk
    # (0 in tests): a live caller is between two chunks for milliseconds, and a race with one is
    # harmless anyway (every chunk is conditioned on the application's version), only wasted work.
    unfinished_grace_seconds: int = Field(default=60, ge=0)
    # Signs pagination cursors so a tampered cursor is a 400: the stack's CursorSigningSecret.
    cursor_secret: str = Field(min_length=16, repr=False)


_ENV = {
    "table_name": "TABLE_NAME",
    "dynamodb_endpoint_url": "DYNAMODB_ENDPOINT_URL",
    "event_bus_name": "EVENT_BUS_NAME",
    "events_endpoint_url": "EVENTS_ENDPOINT_URL",
    "expiring_soon_lead_days": "EXPIRING_SOON_LEAD_DAYS",
    "livemode": "LIVEMODE",
    "enable_swagger": "ENABLE_SWAGGER",
    "max_write_attempts": "MAX_WRITE_ATTEMPTS",
    "unfinished_grace_seconds": "UNFINISHED_GRACE_SECONDS",
    "cursor_secret": "CURSOR_SECRET",
}


_REQUIRED = ("table_name", "cursor_secret")


class MissingSettings(RuntimeError):
    """A required variable is not in the environment: the function cannot start."""


def load_settings() -> Settings:
    values = {field: os.environ[var] for field, var in _ENV.items() if os.environ.get(var)}
    missing = [_ENV[field] for field in _REQUIRED if field not in values]
    if missing:
        raise MissingSettings(
            f"missing required environment variable(s): {', '.join(missing)} - template.yaml sets them for every "
            "function (CURSOR_SECRET from the stack's CursorSigningSecret); locally, the local stack and the tests "
            "set development values")
    return Settings.model_validate(values)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (read on first use, not at import)."""
    return load_settings()
