"""Error answers in the one place that chooses the envelope: the contract's error body on the
JSON API, Stripe's on `/v1/…`; and the headers of an answer that means "try again"
(Retry-After, and on `/v1` Stripe-Should-Retry)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import Response

from credits.api.json_body import JSON, dumps
from credits.api.stripe.errors import stripe_error_body
from credits.models.errors import error_body


def is_stripe_path(path: str) -> bool:
    return path.startswith("/v1/")


def retry_headers(retry_after: int | None, *, stripe: bool) -> dict[str, str]:
    """An answer that means "try again" says so: Retry-After (and, on /v1, the header the stripe
    SDK reads to decide whether to retry)."""
    if retry_after is None:
        return {}
    headers = {"Retry-After": str(retry_after)}
    if stripe:
        headers["Stripe-Should-Retry"] = "true"
    return headers


def means_retry(response: dict[str, Any]) -> bool:
    """A 5xx, a 429, or any answer carrying Retry-After: the request may pass when repeated, so
    it is never stored under an Idempotency-Key."""
    status = int(response.get("statusCode", 500))
    headers = {k.lower() for k in (response.get("headers") or {})} | {
        k.lower() for k in (response.get("multiValueHeaders") or {})}
    return status >= 500 or status == 429 or "retry-after" in headers


def error_payload(status: int, code: str, message: str, *, stripe: bool, details: list[dict[str, Any]] | None = None,
                  field: str | None = None) -> dict[str, Any]:
    if stripe:
        return stripe_error_body(status, message, code=code, param=field)
    if details is None:
        details = [{"field": field, "message": message}] if field else []
    return error_body(code, message, details)


def error_response(status: int, code: str, message: str, *, stripe: bool, details: list[dict[str, Any]] | None = None,
                   field: str | None = None, retry_after: int | None = None) -> Response:
    """For the resolver's exception handlers."""
    return Response(status_code=status, content_type=JSON, headers=retry_headers(retry_after, stripe=stripe),
                    body=dumps(error_payload(status, code, message, stripe=stripe, details=details, field=field)))


def error_dict(status: int, code: str, message: str, *, stripe: bool, details: list[dict[str, Any]] | None = None,
               field: str | None = None, headers: dict[str, str] | None = None,
               retry_after: int | None = None) -> dict[str, Any]:
    """For answers made outside the resolver (an API Gateway proxy response)."""
    body = error_payload(status, code, message, stripe=stripe, details=details, field=field)
    return {"statusCode": status,
            "headers": {"Content-Type": JSON, **(headers or {}), **retry_headers(retry_after, stripe=stripe)},
            "body": dumps(body), "isBase64Encoded": False}
