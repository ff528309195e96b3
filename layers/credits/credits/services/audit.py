"""The audit trail: every committed change of an account, who made it (its actor), what, when,
the resource and its reason. Recorded from the table stream (PublisherFunction), so no write path
needs code of its own and only committed writes are recorded; read by `GET /audit-events`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from credits.domain.errors import InvalidRequest
from credits.domain.records import Page
from credits.services.ports import AuditStore


class AuditService:
    def __init__(self, store: AuditStore):
        self.store = store

    def note_change(self, old: dict[str, Any] | None, new: dict[str, Any] | None) -> bool:
        """From the table stream: store the audit event of one committed write, if it is one."""
        return self.store.record_change(old, new)

    def list(self, account_id: str, *, resource_id: str | None = None, actor_id: str | None = None,
             actor_type: str | None = None, start: datetime | None = None, end: datetime | None = None,
             limit: int = 20, after: str | None = None, before: str | None = None) -> Page:
        if after and before:
            raise InvalidRequest("give after or before, not both", field="before")
        if start and end and end <= start:
            raise InvalidRequest("to must be after from", field="to")
        return self.store.list(account_id, resource_id=resource_id, actor_id=actor_id, actor_type=actor_type,
                               start=start, end=end, limit=limit, after=after, before=before)
