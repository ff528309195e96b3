"""Stripe's error envelope (used only on the /v1 routes)."""

from __future__ import annotations

from typing import Any

_STRIPE_TYPES = {401: "invalid_request_error", 404: "invalid_request_error", 409: "idempotency_error"}
_STRIPE_CODES = {404: "resource_missing", 401: "api_key_invalid", 413: "payload_too_large",
                 400: "parameter_invalid", 409: "idempotency_key_in_use", 500: "api_error"}


def stripe_error_body(status: int, message: str, *, code: str | None = None, param: str | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {
        "type": "api_error" if status >= 500 else _STRIPE_TYPES.get(status, "invalid_request_error"),
        "code": code if code == "resource_missing" else _STRIPE_CODES.get(status, code or "parameter_invalid"),
        "message": message,
    }
    if status == 400 and message.startswith("Missing required param"):
        error["code"] = "parameter_missing"
    if status == 409 and code == "idempotency_error":
        error["type"] = error["code"] = "idempotency_error"
    if param:
        error["param"] = param
    return {"error": error}
