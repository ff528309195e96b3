"""Who made a change (the contract's `actor`): an API key, an EventBridge command, or one of the
service's scheduled jobs. Every ledger entry, application and schedule records the actor that was
current when it was made (`current_actor`): the one place each entry point says who it acts for
(`acting_as`: the HTTP resolver from the authorizer's context, the command handler, the scheduled
run) sets it, so a write path needs no code of its own to record it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Literal, TypeVar

Actor = dict[str, str]
T = TypeVar("T")
Job = Literal["expiry", "schedule", "top_up", "test_clock"]

_CURRENT: ContextVar[Actor | None] = ContextVar("credits_actor", default=None)


def api_key_actor(key_id: str, name: str) -> Actor:
    return {"type": "api_key", "id": key_id, "name": name}


def command_actor(source: str, event_id: str) -> Actor:
    return {"type": "command", "source": source, "eventId": event_id}


def system_actor(job: Job) -> Actor:
    return {"type": "system", "job": job}


def current_actor() -> Actor | None:
    """The actor the current request, command or job acts for (None outside any)."""
    actor = _CURRENT.get()
    return dict(actor) if actor is not None else None


@contextmanager
def acting_as(actor: Actor | None) -> Iterator[None]:
    token = _CURRENT.set(dict(actor) if actor is not None else None)
    try:
        yield
    finally:
        _CURRENT.reset(token)


def actor_id(actor: dict[str, Any] | None) -> str | None:
    """What `GET /audit-events?actorId=` matches: a key's id, a command's source, a job's name."""
    if not actor:
        return None
    return actor.get("id") or actor.get("source") or actor.get("job")


def carrying_actor(fn: Callable[..., T]) -> Callable[..., T]:
    """`fn`, run as the actor current now wherever it is called (a worker thread starts with
    no actor of its own)."""
    actor = current_actor()

    def run(*args: Any, **kwargs: Any) -> T:
        with acting_as(actor):
            return fn(*args, **kwargs)

    return run
