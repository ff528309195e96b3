"""Shared plumbing for the stack's small HTTP servers (standard library only)."""

from __future__ import annotations

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MAX_BODY = 10 * 1024 * 1024  # API Gateway's payload limit


class BodyTooLarge(Exception):
    pass


class BadFraming(Exception):
    """A Content-Length or chunk size that is not a plain non-negative number: answered 400 and
    the connection closed (what follows cannot be framed)."""


_DIGITS = frozenset(b"0123456789")
_HEX_DIGITS = frozenset(b"0123456789abcdefABCDEF")


class Server(ThreadingHTTPServer):
    # 20+ concurrent clients must queue, not be reset (socketserver defaults to 5).
    request_queue_size = 128
    daemon_threads = True  # idle keep-alive connections must not keep the process alive
    allow_reuse_address = True

    def __init__(self, host: str, port: int, handler: type[BaseHTTPRequestHandler], name: str):
        super().__init__((host, port), handler)
        self.name = name
        self.thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> Server:
        self.thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.2}, name=self.name, daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        if self.thread:
            self.shutdown()
            self.thread.join(5)
            self.thread = None
        self.server_close()


class Handler(BaseHTTPRequestHandler):
    """HTTP/1.1 with keep-alive: every response carries Content-Length, every body is read."""

    protocol_version = "HTTP/1.1"
    timeout = 120  # close idle keep-alive connections eventually
    quiet = False
    server_version = "credits-local"
    sys_version = ""

    def read_body(self, limit: int = MAX_BODY) -> bytes:
        """The request body. Raises BadFraming (→ 400) or BodyTooLarge (→ 413); both close the
        connection, since the rest of the stream cannot be trusted or is not read."""
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks, total = [], 0
            while True:
                size_field = self.rfile.readline(1024).split(b";")[0].strip()
                if not size_field or not set(size_field) <= _HEX_DIGITS or len(size_field) > 16:
                    self.close_connection = True
                    raise BadFraming(f"bad chunk size {size_field[:32]!r}")
                size = int(size_field, 16)
                if size == 0:
                    while self.rfile.readline(8192) not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    break
                total += size
                if total > limit:
                    self.close_connection = True
                    raise BodyTooLarge()
                chunk = self.rfile.read(size)
                if len(chunk) < size or self.rfile.readline(3).strip():
                    self.close_connection = True
                    raise BadFraming("chunk shorter than its size")
                chunks.append(chunk)
            return b"".join(chunks)
        lengths = self.headers.get_all("Content-Length") or []
        if not lengths:
            return b""
        raw = lengths[0].strip().encode()
        if len(set(lengths)) > 1 or not raw or not set(raw) <= _DIGITS or len(raw) > 18:
            self.close_connection = True
            raise BadFraming(f"bad Content-Length {lengths[0][:32]!r}")
        length = int(raw)
        if length > limit:
            self.close_connection = True  # we do not read it, so the connection cannot be reused
            raise BodyTooLarge()
        body = self.rfile.read(length) if length else b""
        if len(body) < length:
            self.close_connection = True
            raise BadFraming("body shorter than its Content-Length")
        return body

    def send_bad_framing(self, exc: BadFraming) -> None:
        self.send_json(400, {"message": f"Bad request: {exc}"}, [("Connection", "close")])

    def send(self, status: int, body: bytes = b"", headers: list[tuple[str, str]] | None = None) -> None:
        self.send_response(status)
        for name, value in headers or []:
            self.send_header(name, value)
        if status >= 200 and status not in (204, 304):
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body and self.command != "HEAD" and status not in (204, 304):
            self.wfile.write(body)

    def send_json(self, status: int, payload: Any, headers: list[tuple[str, str]] | None = None) -> None:
        body = json.dumps(payload, separators=(",", ":")).encode()
        self.send(status, body, [("Content-Type", "application/json"), *(headers or [])])

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        if not self.quiet:
            sys.stderr.write(f"{self.server.name}: {format % args}\n")  # type: ignore[attr-defined]

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        if not self.quiet:
            self.log_message('"%s" %s', self.requestline, str(code))

    def log_error(self, format: str, *args: Any) -> None:  # noqa: A002
        if "timed out" not in format % args:
            self.log_message(format, *args)
