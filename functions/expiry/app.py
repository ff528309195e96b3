"""ExpiryFunction: the EventBridge schedule (or a direct invoke) runs the due work now and
returns what it did as JSON: first it finishes chunked applications that a caller left
unfinished, then expiry and expiring-soon notices, then recurring grants."""

from __future__ import annotations

from typing import Any

from credits.container import expiry_service, recovery_service, schedule_service
from credits.domain.actors import acting_as, system_actor
from credits.services.schedules import run_due_schedules
from credits.telemetry import count, instrument


def handler(event: Any, context: Any) -> dict[str, Any]:
    remaining_ms = getattr(context, "get_remaining_time_in_millis", None)
    recovered = recovery_service().run(remaining_ms=remaining_ms)  # as each application's own actor
    with acting_as(system_actor("expiry")):
        summary = expiry_service().run(remaining_ms=remaining_ms)
    count("GrantsExpired", summary.expired)
    count("ExpiringSoonNotices", summary.notices)
    with acting_as(system_actor("schedule")):
        schedules = run_due_schedules(schedule_service(), remaining_ms=remaining_ms)
    return {"applications": recovered, "expiry": summary.model_dump(mode="json"), "schedules": schedules}


lambda_handler = instrument(handler)
