"""The template's schedules (ExpiryFunction's sweep), run every N seconds instead of rate(5 minutes)."""

from __future__ import annotations

import threading
import uuid
from typing import Any

from local.bus import utc_now_z
from local.lambdas import ACCOUNT_ID, REGION, FunctionRuntime, log_exception


def scheduled_event() -> dict[str, Any]:
    """What EventBridge Scheduler sends to a Lambda target."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.scheduler",
        "account": ACCOUNT_ID,
        "time": utc_now_z(),
        "region": REGION,
        "resources": [],
        "detail": {},
    }


class Scheduler:
    def __init__(self, runtime: FunctionRuntime, interval: float, functions: list[str] | None = None):
        self.runtime = runtime
        self.interval = interval
        self.functions = functions if functions is not None else [
            spec.logical_id for spec in runtime.specs.values() if spec.schedules
        ]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="scheduler", daemon=True)

    def start(self) -> Scheduler:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def run_once(self) -> None:
        for name in self.functions:
            if self._stop.is_set():
                return
            try:
                if self.runtime.has_handler(name):  # no handler yet: skip quietly
                    self.runtime.invoke(name, scheduled_event())
            except Exception as exc:  # noqa: BLE001 - a failed sweep is retried next tick
                log_exception(f"scheduled {name} failed", exc)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            if self.runtime.active.is_set():
                self.run_once()
