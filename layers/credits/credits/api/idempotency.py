"""Idempotency-Key on POSTs, with Powertools idempotency over the service's own table.

The key is scoped to the account and the route; the stored response (status and body) is
returned again for the same key and body within 24 hours; another body is 409. Responses of
5xx are not stored, so a failed attempt can be retried with the same key."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from credits.api.resolver import JSON, dumps, error_body

_persistence: dict[str, Any] = {}
TTL_SECONDS = 24 * 3600


class _DoNotStore(Exception):
    def __init__(self, response: dict[str, Any]):
        self.response = response


def persistence_layer(kind: str = "http"):
    """One persistence layer per kind of key: Powertools binds a layer to the first config it
    is used with, so HTTP requests and EventBridge commands must not share one."""
    if kind not in _persistence:
        from credits.settings import get_settings
        from credits.store.idempotency_store import make_persistence_layer

        _persistence[kind] = make_persistence_layer(get_settings())
    return _persistence[kind]


def canonical_body(body: str, *, is_stripe: bool) -> str:
    """"The same body" means the same content: JSON compared as parsed (key order, spacing
    don't matter), forms as their sorted pairs."""
    try:
        if is_stripe:
            from urllib.parse import parse_qsl

            return "&".join(f"{k}={v}" for k, v in sorted(parse_qsl(body, keep_blank_values=True)))
        return json.dumps(json.loads(body), sort_keys=True, separators=(",", ":"))
    except (ValueError, TypeError):
        return body


def run_once(event: dict[str, Any], key: str, resolve: Callable[[], dict[str, Any]], *, is_stripe: bool,
             context: Any = None) -> dict[str, Any]:
    from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function
    from aws_lambda_powertools.utilities.idempotency.exceptions import (
        IdempotencyAlreadyInProgressError,
        IdempotencyValidationError,
    )

    if not key or len(key) > 255:
        return _conflict_or_invalid(400, "Idempotency-Key must be 1-255 characters", is_stripe)
    account = ((event.get("requestContext") or {}).get("authorizer") or {}).get("accountId", "")
    request = {"account": account, "key": key, "method": event.get("httpMethod"), "path": event.get("path"),
               "body": canonical_body(event.get("body") or "", is_stripe=is_stripe)}
    config = IdempotencyConfig(event_key_jmespath="[account, key, method, path]", payload_validation_jmespath="body",
                               expires_after_seconds=TTL_SECONDS, raise_on_no_idempotency_key=True)
    if context is not None and hasattr(context, "get_remaining_time_in_millis"):
        config.register_lambda_context(context)

    @idempotent_function(data_keyword_argument="request", persistence_store=persistence_layer(), config=config)
    def once(request: dict[str, Any]) -> dict[str, Any]:
        response = resolve()
        if int(response.get("statusCode", 500)) >= 500:
            raise _DoNotStore(response)
        return response

    try:
        return once(request=request)
    except _DoNotStore as failed:
        return failed.response
    except IdempotencyValidationError:
        return _conflict_or_invalid(409, "Idempotency-Key was already used with a different request body", is_stripe)
    except IdempotencyAlreadyInProgressError:
        return _conflict_or_invalid(409, "a request with this Idempotency-Key is still in progress", is_stripe)


def _conflict_or_invalid(status: int, message: str, is_stripe: bool) -> dict[str, Any]:
    if is_stripe:
        from credits.api.stripe.errors import stripe_error_body

        body = stripe_error_body(status, message, code="idempotency_error" if status == 409 else None)
    else:
        body = error_body("conflict" if status == 409 else "validation_error", message)
    headers = {"Content-Type": JSON}
    if is_stripe:
        headers["Stripe-Should-Retry"] = "false"  # the SDK would otherwise retry a 409
    return {"statusCode": status, "headers": headers, "body": dumps(body), "isBase64Encoded": False}
