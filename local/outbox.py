"""Webhook delivery for the local bus, as the deployed API destination does it: every event is
first written to a durable outbox (SQLite under `.local/`, so a restart loses nothing), then
POSTed with bounded retries and backoff; an event that still fails goes to a dead-letter list
(the deployed stack's WebhookDeadLetterQueue), which the bus serves at GET /dead-letters.

Order is kept per customer: only the oldest pending event of an (account, customer) is ever
attempted, so a receiver that comes back gets each customer's events in publication order.
"""

from __future__ import annotations

import json
import sqlite3
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

# Seconds to wait before each retry; the length bounds the attempts (1 + len). About 19 minutes
# in all by default; CREDITS_WEBHOOK_RETRY_DELAYS="0.1,0.2" makes tests take seconds.
DEFAULT_RETRY_DELAYS = (1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 120.0, 300.0, 600.0)
# EventBridge API destinations retry these statuses (and connection failures); any other 4xx is
# the receiver refusing the event, so it goes straight to the dead-letter list.
RETRIED_STATUSES = {401, 407, 409, 429}


def parse_delays(value: str | None) -> tuple[float, ...] | None:
    if not value or not value.strip():
        return None
    delays = tuple(float(part) for part in value.split(","))
    if any(d < 0 for d in delays):
        raise ValueError("CREDITS_WEBHOOK_RETRY_DELAYS: delays must be >= 0 seconds")
    return delays


def ordering_key(event: dict[str, Any]) -> str:
    detail = event.get("detail") if isinstance(event.get("detail"), dict) else {}
    return f"{detail.get('accountId', '')}/{detail.get('customerId', '')}"


class WebhookOutbox:
    def __init__(
        self,
        url: str,
        *,
        path: Path | None = None,
        headers: dict[str, str] | None = None,
        retry_delays: tuple[float, ...] | None = None,
        timeout: float = 5.0,
    ):
        self.url = url
        self.headers = headers or {}
        self.retry_delays = tuple(retry_delays if retry_delays is not None else DEFAULT_RETRY_DELAYS)
        self.timeout = timeout
        if path:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path) if path else ":memory:", check_same_thread=False, isolation_level=None)
        self._db.executescript(
            """
            CREATE TABLE IF NOT EXISTS pending (
                seq INTEGER PRIMARY KEY AUTOINCREMENT, ordering_key TEXT NOT NULL, event TEXT NOT NULL,
                attempts INTEGER NOT NULL DEFAULT 0, next_at REAL NOT NULL DEFAULT 0, last_error TEXT);
            CREATE INDEX IF NOT EXISTS pending_by_key ON pending (ordering_key, seq);
            CREATE TABLE IF NOT EXISTS dead_letters (
                seq INTEGER PRIMARY KEY, ordering_key TEXT NOT NULL, event TEXT NOT NULL,
                attempts INTEGER NOT NULL, last_error TEXT, dead_at REAL NOT NULL);
            """
        )
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._stopping = False
        self.delivered = 0
        self._thread = threading.Thread(target=self._run, name="webhook-outbox", daemon=True)
        self._thread.start()

    # -- what the bus and its endpoints call ----------------------------------------------------

    def add(self, event: dict[str, Any]) -> None:
        with self._wake:
            self._db.execute("INSERT INTO pending (ordering_key, event) VALUES (?, ?)",
                             (ordering_key(event), json.dumps(event)))
            self._wake.notify()

    def pending(self) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute("SELECT event, attempts, last_error FROM pending ORDER BY seq").fetchall()
        return [{"event": json.loads(e), "attempts": a, "lastError": err} for e, a, err in rows]

    def dead_letters(self) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute("SELECT event, attempts, last_error, dead_at FROM dead_letters ORDER BY seq").fetchall()
        return [{"event": json.loads(e), "attempts": a, "lastError": err, "deadAt": at} for e, a, err, at in rows]

    def stop(self) -> None:
        with self._wake:
            self._stopping = True
            self._wake.notify()
        self._thread.join(self.timeout + 2)
        with self._lock:
            self._db.close()

    # -- delivery -------------------------------------------------------------------------------

    def _due(self) -> tuple[list[tuple[int, str, int]], float | None]:
        """The head (oldest) event of each customer that is due now, and when the next is due."""
        rows = self._db.execute(
            "SELECT p.seq, p.event, p.attempts, p.next_at FROM pending p "
            "JOIN (SELECT ordering_key, MIN(seq) AS seq FROM pending GROUP BY ordering_key) h ON h.seq = p.seq "
            "ORDER BY p.seq"
        ).fetchall()
        now = time.time()
        due = [(seq, event, attempts) for seq, event, attempts, next_at in rows if next_at <= now]
        later = [next_at for *_, next_at in rows if next_at > now]
        return due, (min(later) if later else None)

    def _run(self) -> None:
        while True:
            with self._wake:
                if self._stopping:
                    return
                due, next_at = self._due()
                if not due:
                    self._wake.wait(None if next_at is None else max(0.0, next_at - time.time()))
                    continue
            for seq, body, attempts in due:
                if self._stopping:
                    return
                error, retry = self._post(body)
                with self._lock:
                    if self._stopping:
                        return
                    self._record(seq, body, attempts + 1, error, retry)

    def _record(self, seq: int, body: str, attempts: int, error: str | None, retry: bool) -> None:
        if error is None:
            self._db.execute("DELETE FROM pending WHERE seq = ?", (seq,))
            self.delivered += 1
        elif retry and attempts <= len(self.retry_delays):
            self._db.execute("UPDATE pending SET attempts = ?, next_at = ?, last_error = ? WHERE seq = ?",
                             (attempts, time.time() + self.retry_delays[attempts - 1], error, seq))
        else:
            event = json.loads(body)
            print(f"local: webhook gave up on event {event.get('id')} after {attempts} attempt(s): {error} "
                  "(see GET /dead-letters on the event bus)", file=sys.stderr, flush=True)
            self._db.execute("INSERT INTO dead_letters SELECT seq, ordering_key, event, ?, ?, ? FROM pending WHERE seq = ?",
                             (attempts, error, time.time(), seq))
            self._db.execute("DELETE FROM pending WHERE seq = ?", (seq,))

    def _post(self, body: str) -> tuple[str | None, bool]:
        """(None, _) when delivered, else (the error, whether to retry it)."""
        request = urllib.request.Request(
            self.url, data=body.encode(), method="POST", headers={"Content-Type": "application/json", **self.headers}
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                response.read()
            return None, False
        except urllib.error.HTTPError as exc:
            return f"HTTP {exc.code}", exc.code >= 500 or exc.code in RETRIED_STATUSES
        except (urllib.error.URLError, OSError) as exc:
            return str(getattr(exc, "reason", exc)), True
