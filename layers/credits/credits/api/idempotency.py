"""Idempotency-Key on POSTs, with Powertools idempotency over the service's own table.

The key is scoped to the account and the route (and so is the record's partition); the stored response (status and body) is
returned again for the same key and body within 24 hours; another body is 409. Answers that
mean "try again" — 5xx, 429, and any answer with Retry-After (a 409 for a request still in
progress or an application still being committed) — are not stored, so the same key retried
later gets the real outcome."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyValidationError,
)

from credits.api.errors import error_dict, means_retry
from credits.container import idempotency_persistence

TTL_SECONDS = 24 * 3600


class _DoNotStore(Exception):
    def __init__(self, response: dict[str, Any]):
        self.response = response


def canonical_body(body: str, *, is_stripe: bool) -> str:
    """"The same body" means the same content: JSON compared as parsed (key order, spacing
    don't matter), forms as their sorted pairs."""
    try:
        if is_stripe:
            return "&".join(f"{k}={v}" for k, v in sorted(parse_qsl(body, keep_blank_values=True)))
        return json.dumps(json.loads(body), sort_keys=True, separators=(",", ":"))
    except (ValueError, TypeError):
        return body


def run_once(event: dict[str, Any], key: str, resolve: Callable[[], dict[str, Any]], *, is_stripe: bool,
             context: Any = None) -> dict[str, Any]:
    if not key or len(key) > 255:
        return _conflict_or_invalid(400, "Idempotency-Key must be 1-255 characters", is_stripe)
    account = ((event.get("requestContext") or {}).get("authorizer") or {}).get("accountId", "")
    request = {"account": account, "key": key, "method": event.get("httpMethod"), "path": event.get("path"),
               "body": canonical_body(event.get("body") or "", is_stripe=is_stripe)}
    config = IdempotencyConfig(event_key_jmespath="[account, key, method, path]", payload_validation_jmespath="body",
                               expires_after_seconds=TTL_SECONDS, raise_on_no_idempotency_key=True)
    if context is not None and hasattr(context, "get_remaining_time_in_millis"):
        config.register_lambda_context(context)

    # One partition per account and route (store/idempotency_store.py), not one for everything.
    scope = f"{account}#{event.get('httpMethod')} {event.get('resource') or event.get('path')}"

    @idempotent_function(data_keyword_argument="request", persistence_store=idempotency_persistence("http"),
                         config=config, key_prefix=scope)
    def once(request: dict[str, Any]) -> dict[str, Any]:
        response = resolve()
        if means_retry(response):
            raise _DoNotStore(response)
        return response

    try:
        return once(request=request)
    except _DoNotStore as failed:
        return failed.response
    except IdempotencyValidationError:
        return _conflict_or_invalid(409, "Idempotency-Key was already used with a different request body", is_stripe)
    except IdempotencyAlreadyInProgressError:
        return _conflict_or_invalid(409, "a request with this Idempotency-Key is still in progress; retry in a moment",
                                    is_stripe, retry=True)


def _conflict_or_invalid(status: int, message: str, is_stripe: bool, *, retry: bool = False) -> dict[str, Any]:
    code = "conflict" if status == 409 else "validation_error"
    if is_stripe:
        code = "idempotency_error" if status == 409 else "parameter_invalid"
    if retry:  # Retry-After (and Stripe-Should-Retry: true): the first request is still running
        return error_dict(status, code, message, stripe=is_stripe, details=[], retry_after=1)
    # Stripe-Should-Retry: false, or the SDK would retry a 409 under the same key.
    return error_dict(status, code, message, stripe=is_stripe, details=[],
                      headers={"Stripe-Should-Retry": "false"} if is_stripe else None)
