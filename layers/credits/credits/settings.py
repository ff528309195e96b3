"""Settings read once from the environment into a frozen, validated record.

A dataclass with the few checks below rather than a pydantic model, on purpose: the authorizer,
in front of every API request, needs nothing but these settings and one GetItem, and importing
pydantic is about a fifth of a cold start's `import boto3` + client floor (BENCHMARKS.md "Cold
start"). Environment values are strings: integers and booleans are read as pydantic reads them."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from functools import lru_cache

# Lower and upper bounds of the integer settings (None: unbounded).
_INT_BOUNDS = {"expiring_soon_lead_days": (1, 365), "max_write_attempts": (1, None), "unfinished_grace_seconds": (0, None)}
_BOOLS = {"livemode", "enable_swagger"}
_MIN_LENGTH = {"table_name": 1, "cursor_secret": 16}
_TRUE, _FALSE = {"1", "true", "t", "yes", "y", "on"}, {"0", "false", "f", "no", "n", "off"}


@dataclass(frozen=True, slots=True)
class Settings:
    # Required, no defaults (an empty value fails): template.yaml sets them for every function;
    # the local stack and the tests set development values.
    table_name: str = ""
    dynamodb_endpoint_url: str | None = None
    event_bus_name: str = "credits-local"
    events_endpoint_url: str | None = None
    expiring_soon_lead_days: int = 7
    livemode: bool = False
    enable_swagger: bool = False
    # Bounded optimistic-concurrency retries before a conflict is answered 409.
    max_write_attempts: int = 50
    # The scheduled run finishes a chunked application left alone this long after its last chunk
    # (0 in tests): a live caller is between two chunks for milliseconds, and a race with one is
    # harmless anyway (every chunk is conditioned on the application's version), only wasted work.
    unfinished_grace_seconds: int = 60
    # Signs pagination cursors so a tampered cursor is a 400: the stack's CursorSigningSecret.
    cursor_secret: str = field(default="", repr=False)

    def __post_init__(self) -> None:
        errors = []
        for name in (f.name for f in fields(self)):
            value = getattr(self, name)
            try:
                if name in _INT_BOUNDS:
                    value = _integer(value, *_INT_BOUNDS[name])
                elif name in _BOOLS:
                    value = _boolean(value)
                elif not isinstance(value, str) and (value is not None or name in _MIN_LENGTH):
                    raise ValueError("should be a string")
                elif name in _MIN_LENGTH and len(value) < _MIN_LENGTH[name]:
                    raise ValueError(f"should have at least {_MIN_LENGTH[name]} character(s)")
            except ValueError as exc:
                errors.append(f"{name}: {exc}")
            object.__setattr__(self, name, value)
        if errors:
            raise ValueError("invalid settings: " + "; ".join(errors))


def _integer(value: object, low: int, high: int | None) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError("should be an integer")  # noqa: TRY004 - every invalid setting is one ValueError
    try:
        number = int(value)
    except ValueError:
        raise ValueError("should be an integer") from None
    if number < low or (high is not None and number > high):
        raise ValueError(f"should be at least {low}" + (f" and at most {high}" if high is not None else ""))
    return number


def _boolean(value: object) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE | _FALSE:
        return text in _TRUE
    raise ValueError("should be a boolean (true or false)")


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
    values = {name: os.environ[var] for name, var in _ENV.items() if os.environ.get(var)}
    missing = [_ENV[name] for name in _REQUIRED if name not in values]
    if missing:
        raise MissingSettings(
            f"missing required environment variable(s): {', '.join(missing)} - template.yaml sets them for every "
            "function (CURSOR_SECRET from the stack's CursorSigningSecret); locally, the local stack and the tests "
            "set development values")
    return Settings(**values)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (read on first use, not at import)."""
    return load_settings()
