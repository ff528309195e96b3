"""The asynchronous work of test clocks (TestClockFunction): a `Test Clock Work` event on the bus
goes on with an advance or a deletion that did not finish within its request; the schedule
resumes a clock whose worker died."""

from __future__ import annotations

import time
from typing import Any

from credits.container import test_clock_service
from credits.services.test_clocks import WORK_DETAIL_TYPE
from credits.settings import get_settings
from credits.telemetry import logger


def work(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """A `Test Clock Work` event (go on with a clock handed over), or the schedule (resume the
    clocks whose worker died)."""
    if get_settings().livemode:
        return {"resumed": 0}
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    deadline = time.monotonic() + (remaining() / 1000 - 15 if remaining else 60)
    service = test_clock_service()
    if event.get("detail-type") == WORK_DETAIL_TYPE:
        detail = event.get("detail") or {}
        clock = service.resume(str(detail["accountId"]), str(detail["testClockId"]), detail.get("version"),
                               deadline=deadline)
        logger.info("test clock work", extra={"testClockId": detail["testClockId"],
                                              "status": clock.status if clock else "DELETED"})
        return {"testClockId": detail["testClockId"], "status": clock.status if clock else "DELETED"}
    return {"resumed": service.resume_stalled(deadline=deadline)}
