"""ExpiryFunction: the EventBridge schedule (or a direct invoke) runs a sweep now and returns
what it did as JSON. Each due-work job is one line here."""

from __future__ import annotations

from typing import Any

from credits import expiry


def lambda_handler(event: Any, context: Any) -> dict[str, Any]:
    remaining_ms = getattr(context, "get_remaining_time_in_millis", None)
    result: dict[str, Any] = {}
    result["expiry"] = expiry.default_service().run(remaining_ms=remaining_ms).model_dump(mode="json")
    # Recurring grants (schedules.run_due) go here, one more line:
    # result["schedules"] = schedules.run_due(remaining_ms=remaining_ms).model_dump(mode="json")
    return result
