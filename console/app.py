"""ConsoleFunction: serves the operator console's static files at /console (no API key needed
for the page itself; every API call it makes carries the key the operator signs in with).

Every asset ships in this directory (no CDN, nothing fetched at run time). Responses carry a
strict Content-Security-Policy: scripts and styles only from this origin, no inline code."""

from __future__ import annotations

import base64
import mimetypes
import os
from pathlib import Path
from typing import Any

STATIC = Path(__file__).resolve().parent / "static"

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "font-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'")
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}
TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
         ".mjs": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
         ".svg": "image/svg+xml", ".json": "application/json", ".png": "image/png", ".ico": "image/x-icon"}
TEXT = {".html", ".js", ".mjs", ".css", ".svg", ".json"}


def _stage_prefix(event: dict[str, Any]) -> str:
    """'/<stage>' when called on the execute-api host (its URLs carry the stage), else ''."""
    ctx = event.get("requestContext") or {}
    host = (event.get("headers") or {}).get("Host") or (event.get("headers") or {}).get("host") or ""
    if ".execute-api." in host and ctx.get("stage"):
        return f"/{ctx['stage']}"
    return os.environ.get("CONSOLE_BASE_PATH", "")


def _response(status: int, body: bytes, content_type: str, *, cache: str, binary: bool = False) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"Content-Type": content_type, "Cache-Control": cache, **SECURITY_HEADERS},
        "body": base64.b64encode(body).decode() if binary else body.decode("utf-8"),
        "isBase64Encoded": binary,
    }


def lambda_handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    if (event.get("httpMethod") or "GET") not in ("GET", "HEAD"):
        return _response(405, b"method not allowed", "text/plain; charset=utf-8", cache="no-store")
    name = ((event.get("pathParameters") or {}).get("proxy") or "").strip("/") or "index.html"
    path = (STATIC / name).resolve()
    if STATIC not in path.parents or not path.is_file():
        return _response(404, b"not found", "text/plain; charset=utf-8", cache="no-store")
    suffix = path.suffix.lower()
    content_type = TYPES.get(suffix) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    body = path.read_bytes()
    if name == "index.html":
        # The page's base URL: assets and API calls are relative to it (stage prefix when deployed).
        body = body.replace(b"__BASE__", f"{_stage_prefix(event)}/console/".encode())
        return _response(200, body, content_type, cache="no-cache")
    return _response(200, body, content_type, cache="no-cache", binary=suffix not in TEXT)
