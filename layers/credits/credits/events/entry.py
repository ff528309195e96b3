"""What the HTTP functions hand their other events to (`commands` and `direct` of
api.resolver.lambda_entry), light at import: events/commands.py (the command and event models,
Powertools idempotency) and events/queue.py (Powertools' batch processor) are imported with the
first such event, so the cold start of an HTTP request never pays for them (a measured cold
start, BENCHMARKS.md "Cold start")."""

from __future__ import annotations

from typing import Any


def handle_command(event: Any, context: Any = None) -> dict[str, Any]:
    """An EventBridge command, or a direct invocation of the same shape (events/commands.py)."""
    from credits.events.commands import handle_command as handle  # on the first command: see above

    return handle(event, context)


def handle_queue_or_command(event: Any, context: Any = None) -> Any:
    """The consumption queue's batches (SQS, events/queue.py), else a command invoked directly."""
    from credits.events.queue import handle_queue, is_sqs_event  # on the first batch: see above

    return handle_queue(event, context) if is_sqs_event(event) else handle_command(event, context)
