"""The one HTTP plumbing of every function: the Powertools resolver with pydantic validation,
strict JSON, the contract's error body, body-size limit, Idempotency-Key, and telling API
Gateway events from EventBridge commands and direct invocations."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)
from pydantic import BaseModel

from credits.api.errors import error_dict, error_response, is_stripe_path
from credits.api.json_body import JSON, MAX_BODY_BYTES, dumps, strict_json_loads
from credits.domain.access import allows, required_scope
from credits.domain.actors import Actor, acting_as, api_key_actor
from credits.domain.errors import ServiceError, ServiceUnavailable, Unauthorized
from credits.models.errors import validation_details
from credits.store.transient import is_transient
from credits.telemetry import instrument, logger

# ====================================================================== resolver


def _is_stripe_path(app: APIGatewayRestResolver) -> bool:
    return is_stripe_path(str(app.current_event.raw_event.get("path") or ""))


def make_resolver() -> APIGatewayRestResolver:
    """The resolver every function uses. Errors take the contract's shape, or Stripe's on /v1."""
    app = APIGatewayRestResolver(enable_validation=True, json_body_deserializer=strict_json_loads, serializer=dumps)

    def respond(status: int, code: str, message: str, details: list[dict[str, Any]] | None = None,
                param: str | None = None, retry_after: int | None = None) -> Response:
        return error_response(status, code, message, stripe=_is_stripe_path(app), details=details or [], field=param,
                              retry_after=retry_after)

    @app.exception_handler(RequestValidationError)
    def _invalid(exc: RequestValidationError) -> Response:
        details = validation_details(list(exc.errors()))
        message = "; ".join(d["message"] for d in details[:5]) or "invalid request"
        return respond(400, "validation_error", message, details, details[0]["field"] if details else None)

    def reject_unknown_query(app: APIGatewayRestResolver, next_middleware: Callable) -> Response:
        """Unknown query parameters are a 400, like unknown body fields (JSON API only: the /v1
        routes parse their own bracketed parameters)."""
        route = app.context.get("_route")
        given = set((app.current_event.raw_event.get("multiValueQueryStringParameters") or {}).keys()) | set(
            (app.current_event.raw_event.get("queryStringParameters") or {}).keys())
        if route is not None and given and not _is_stripe_path(app) and route.path != "/swagger":
            allowed = set()
            for param in route.dependant.query_params:
                model = param.field_info.annotation
                if isinstance(model, type) and issubclass(model, BaseModel):  # a query-parameter model
                    allowed |= {field.alias or name for name, field in model.model_fields.items()}
                else:
                    allowed.add(param.alias)
            unknown = sorted(given - allowed)
            if unknown:
                details = [{"field": name, "message": f"{name}: is not a known query parameter"} for name in unknown]
                return respond(400, "validation_error", "; ".join(d["message"] for d in details[:5]), details)
        return next_middleware(app)

    app.use(middlewares=[reject_unknown_query])

    @app.exception_handler(RequestUnsupportedContentType)
    def _content_type(exc: RequestUnsupportedContentType) -> Response:
        expected = "application/x-www-form-urlencoded" if _is_stripe_path(app) else "application/json"
        return respond(400, "validation_error", f"Content-Type must be {expected}",
                       [{"field": "Content-Type", "message": f"Content-Type must be {expected}"}], "Content-Type")

    @app.exception_handler(ServiceError)
    def _service_error(exc: ServiceError) -> Response:
        return respond(exc.status, exc.code, exc.message, exc.details, exc.field, exc.retry_after)

    @app.exception_handler(Exception)
    def _unexpected(exc: Exception) -> Response:
        if is_transient(exc):
            logger.warning("a dependency failed for now: answered 503", exc_info=True)
            return _service_error(ServiceUnavailable())
        logger.exception("unhandled error")
        return respond(500, "internal_error", "internal error; the request was not applied")

    @app.not_found
    def _not_found(exc: Exception) -> Response:
        return respond(404, "not_found", "no such route")

    return app


def request_key(app: APIGatewayRestResolver) -> str | None:
    """The request's Idempotency-Key with its route, for a create that must happen once even when
    the Idempotency-Key record is lost (services/grants.py), or None without a key."""
    key = app.current_event.get_header_value("Idempotency-Key")
    if not key:
        return None
    return f"{app.current_event.http_method} {app.current_event.resource}#{key}"


def _authorizer_context(app: APIGatewayRestResolver) -> dict[str, Any]:
    return _event_authorizer(app.current_event.raw_event)


def _event_authorizer(event: dict[str, Any]) -> dict[str, Any]:
    return (event.get("requestContext") or {}).get("authorizer") or {}


def forbidden(event: dict[str, Any]) -> str | None:
    """Why the request's API key may not make it (its scope: domain/access.py), or None. A public
    route has no authorizer context (and a protected one without it answers 401: account_id)."""
    context = _event_authorizer(event)
    if not context.get("accountId"):
        return None
    needed = required_scope(str(event.get("httpMethod") or ""), str(event.get("resource") or event.get("path") or ""))
    # A context without a scope comes from the authorizer of the version before scopes (still
    # cached during a deploy, ReauthorizeEvery at most): its keys could do everything.
    scope = context.get("scope") or "admin"
    if allows(scope, needed):
        return None
    return f"this API key's scope ({scope}) does not allow this request: it needs a {needed} key"


def request_actor(context: dict[str, Any]) -> Actor | None:
    """The actor of an HTTP request: the API key the authorizer found (never the request body)."""
    key_id = context.get("keyId")
    return api_key_actor(str(key_id), str(context.get("keyName") or "")) if key_id else None


def account_id(app: APIGatewayRestResolver) -> str:
    """The account comes from the authorizer's context only, never from the request. A missing
    one is the one place a request is answered 401 by a function (on /v1 in Stripe's envelope)."""
    account = _authorizer_context(app).get("accountId")
    if not account:
        raise Unauthorized("missing or unknown API key in the Authorization header")
    return str(account)


# ====================================================================== entry point


def is_api_gateway_event(event: Any) -> bool:
    return isinstance(event, dict) and "httpMethod" in event and "requestContext" in event


def is_eventbridge_event(event: Any) -> bool:
    return isinstance(event, dict) and "detail-type" in event and "detail" in event and "source" in event


def _header(event: dict[str, Any], name: str) -> str | None:
    for key, value in (event.get("headers") or {}).items():
        if key.lower() == name.lower():
            return value
    return None


def _body_size(event: dict[str, Any]) -> int:
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        return len(body) * 3 // 4
    return len(body.encode("utf-8", "surrogatepass"))


def http_entry(app: APIGatewayRestResolver, event: dict[str, Any], context: Any, *,
               idempotent_posts: bool = True) -> dict[str, Any]:
    """Handle an API Gateway event: the key's scope, size limit, Idempotency-Key on POSTs, then
    the resolver, acting as the request's API key."""
    path = str(event.get("path", ""))
    is_stripe = path.startswith("/v1/")
    refused = forbidden(event)
    if refused:
        return _error_dict(403, "forbidden", refused, is_stripe)
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in path + "".join((event.get("pathParameters") or {}).values())):
        return _error_dict(400, "validation_error", "the path contains control characters", is_stripe, field="path")
    if _body_size(event) > MAX_BODY_BYTES:
        return _error_dict(413, "payload_too_large", f"request body is larger than {MAX_BODY_BYTES} bytes", is_stripe)
    if event.get("isBase64Encoded"):
        try:
            event = {**event, "body": base64.b64decode(event.get("body") or "").decode("utf-8"), "isBase64Encoded": False}
        except (ValueError, UnicodeDecodeError):
            return _error_dict(400, "validation_error", "body is not valid UTF-8", is_stripe, field="body")
    if not is_stripe and event.get("body"):
        # The JSON API reads every body as JSON, whatever Content-Type says (curl -d sends a form type).
        headers = {k: v for k, v in (event.get("headers") or {}).items() if k.lower() != "content-type"}
        event = {**event, "headers": {**headers, "Content-Type": JSON},
                 "multiValueHeaders": {k: v for k, v in (event.get("multiValueHeaders") or {}).items()
                                       if k.lower() != "content-type"}}
    # Whatever the request writes records its API key as the actor (domain/actors.py).
    with acting_as(request_actor(_event_authorizer(event))):
        key = _header(event, "Idempotency-Key")
        # A request without an account (an unknown key let through to /v1, which answers 401) keeps no record.
        has_account = bool(_event_authorizer(event).get("accountId"))
        if idempotent_posts and key is not None and event.get("httpMethod") == "POST" and has_account:
            # Imported with the first keyed request (a measured cold start: Powertools' idempotency
            # utility is not needed by a request without a key; BENCHMARKS.md "Cold start").
            from credits.api.idempotency import run_once

            return run_once(event, key, lambda: app.resolve(event, context), is_stripe=is_stripe,
                                        context=context)
        return app.resolve(event, context)


def _error_dict(status: int, code: str, message: str, is_stripe: bool, *, field: str | None = None) -> dict[str, Any]:
    return error_dict(status, code, message, stripe=is_stripe, field=field)


def lambda_entry(app: APIGatewayRestResolver, commands: Callable[[dict[str, Any], Any], Any] | None = None,
                 direct: Callable[[dict[str, Any], Any], Any] | None = None) -> Callable[[dict[str, Any], Any], Any]:
    """Build a function's lambda_handler: API Gateway events go to the resolver, EventBridge
    commands to `commands`, anything else (a direct invocation) to `direct`."""

    def handler(event: dict[str, Any], context: Any) -> Any:
        if is_api_gateway_event(event):
            try:
                return http_entry(app, event, context)
            except Exception as exc:  # noqa: BLE001 - never a 502 or a stack trace to the caller
                is_stripe = is_stripe_path(str(event.get("path", "")))
                if is_transient(exc):
                    logger.warning("a dependency failed for now: answered 503", exc_info=True)
                    unavailable = ServiceUnavailable()
                    return error_dict(unavailable.status, unavailable.code, unavailable.message, stripe=is_stripe,
                                      retry_after=unavailable.retry_after)
                logger.exception("unhandled error outside the resolver")
                return _error_dict(500, "internal_error", "internal error; the request was not applied", is_stripe)
        if commands is not None and is_eventbridge_event(event):
            return commands(event, context)
        if direct is not None:
            return direct(event, context)
        raise ValueError("unsupported event: expected an API Gateway proxy event")

    return instrument(handler, correlation_id_path="requestContext.requestId")
