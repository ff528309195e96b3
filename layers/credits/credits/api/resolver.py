"""The one HTTP plumbing of every function: the Powertools resolver with pydantic validation,
strict JSON, the contract's error body, body-size limit, Idempotency-Key, and telling API
Gateway events from EventBridge commands and direct invocations."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)

from credits.domain.errors import ServiceError, Unauthorized

from credits.telemetry import logger

MAX_BODY_BYTES = 256 * 1024
MAX_JSON_DEPTH = 32
JSON = "application/json"


# ====================================================================== strict JSON


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r}")
        result[key] = value
    return result


def _depth(value: Any, limit: int) -> int:
    stack = [(value, 1)]
    deepest = 0
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        if deepest > limit:
            return deepest
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for v in node.values())
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node)
    return deepest


def strict_json_loads(text: str | bytes) -> Any:
    """json.loads that refuses NaN/Infinity, duplicate keys and absurd nesting (-> 400)."""
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    try:
        value = json.loads(text, parse_constant=_reject_constant, object_pairs_hook=_no_duplicates)
    except RecursionError:
        raise json.JSONDecodeError("JSON nested too deeply", text, 0) from None
    except json.JSONDecodeError:
        raise
    except ValueError as exc:
        raise json.JSONDecodeError(str(exc), text, 0) from None
    if _depth(value, MAX_JSON_DEPTH) > MAX_JSON_DEPTH:
        raise json.JSONDecodeError("JSON nested too deeply", text, 0)
    return value


def dumps(body: Any) -> str:
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False, default=str)


# ====================================================================== errors


def error_body(code: str, message: str, details: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details or []}}


def error_response(status: int, code: str, message: str, details: list[dict[str, Any]] | None = None) -> Response:
    return Response(status_code=status, content_type=JSON, body=dumps(error_body(code, message, details)))


def field_path(loc: tuple[Any, ...] | list[Any]) -> str:
    """('body', 'lines', 0, 'quantity') -> 'lines[0].quantity'."""
    parts = list(loc)
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:]
    path = ""
    for part in parts:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += ("." if path else "") + str(part)
    return path or "body"


def _describe(error: dict[str, Any]) -> str:
    kind = error.get("type", "")
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        return "is not a known field"
    if kind == "json_invalid":
        detail = (error.get("ctx") or {}).get("error")
        return f"is not valid JSON ({detail})" if detail else "is not valid JSON"
    message = str(error.get("msg", "is invalid"))
    if message.startswith("Value error, "):
        message = message[len("Value error, "):]
    return message


def validation_details(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    details = []
    for error in errors:
        loc = tuple(error.get("loc", ()))
        if error.get("type") == "json_invalid":
            loc = ("body",)
        # Union members add their type name to the location; it means nothing to a caller.
        loc = tuple(p for p in loc if not (isinstance(p, str) and ("[" in p or p in ("str", "int", "bool", "function-after"))))
        field = field_path(loc)
        description = _describe(error)
        if description.startswith("Input should be a valid string") and error.get("input") is not None \
                and not isinstance(error.get("input"), str):
            description = "must be a string (amounts are decimal strings like \"12.50\", never JSON numbers)"
        details.append({"field": field, "message": f"{field}: {description}"})
    return details


# ====================================================================== resolver


def _is_stripe_path(app: APIGatewayRestResolver) -> bool:
    return str(app.current_event.raw_event.get("path") or "").startswith("/v1/")


def make_resolver() -> APIGatewayRestResolver:
    """The resolver every function uses. Errors take the contract's shape, or Stripe's on /v1."""
    app = APIGatewayRestResolver(enable_validation=True, json_body_deserializer=strict_json_loads, serializer=dumps)

    def respond(status: int, code: str, message: str, details: list[dict[str, Any]] | None = None,
                param: str | None = None) -> Response:
        if _is_stripe_path(app):
            from credits.api.stripe.errors import stripe_error_body

            return Response(status_code=status, content_type=JSON,
                            body=dumps(stripe_error_body(status, message, code=code, param=param)))
        return error_response(status, code, message, details)

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
            allowed = {p.alias for p in route.dependant.query_params}
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
        return respond(exc.status, exc.code, exc.message, exc.details, exc.field)

    @app.exception_handler(Exception)
    def _unexpected(exc: Exception) -> Response:
        logger.exception("unhandled error")
        return respond(500, "internal_error", "internal error; the request was not applied")

    @app.not_found
    def _not_found(exc: Exception) -> Response:
        return respond(404, "not_found", "no such route")

    return app


def account_id(app: APIGatewayRestResolver) -> str:
    """The account comes from the authorizer's context only, never from the request."""
    context = (app.current_event.raw_event.get("requestContext") or {}).get("authorizer") or {}
    account = context.get("accountId")
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
    """Handle an API Gateway event: size limit, Idempotency-Key on POSTs, then the resolver."""
    path = str(event.get("path", ""))
    is_stripe = path.startswith("/v1/")
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in path + "".join((event.get("pathParameters") or {}).values())):
        return _error_dict(400, "validation_error", "the path contains control characters", is_stripe, field="path")
    if _body_size(event) > MAX_BODY_BYTES:
        return _error_dict(413, "payload_too_large", f"request body is larger than {MAX_BODY_BYTES} bytes", is_stripe)
    if event.get("isBase64Encoded"):
        import base64

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
    key = _header(event, "Idempotency-Key")
    if idempotent_posts and key is not None and event.get("httpMethod") == "POST":
        from credits.api.resolver import idempotency

        return idempotency.run_once(event, key, lambda: app.resolve(event, context), is_stripe=is_stripe,
                                    context=context)
    return app.resolve(event, context)


def _error_dict(status: int, code: str, message: str, is_stripe: bool, *, field: str | None = None) -> dict[str, Any]:
    if is_stripe:
        from credits.api.stripe.errors import stripe_error_body

        body = stripe_error_body(status, message, code=code, param=field)
    else:
        body = error_body(code, message, [{"field": field, "message": message}] if field else [])
    return {"statusCode": status, "headers": {"Content-Type": JSON}, "body": dumps(body), "isBase64Encoded": False}


def lambda_entry(app: APIGatewayRestResolver, commands: Callable[[dict[str, Any], Any], Any] | None = None,
                 direct: Callable[[dict[str, Any], Any], Any] | None = None) -> Callable[[dict[str, Any], Any], Any]:
    """Build a function's lambda_handler: API Gateway events go to the resolver, EventBridge
    commands to `commands`, anything else (a direct invocation) to `direct`."""

    def handler(event: dict[str, Any], context: Any) -> Any:
        if is_api_gateway_event(event):
            try:
                return http_entry(app, event, context)
            except Exception:  # noqa: BLE001 - never a 502 or a stack trace to the caller
                logger.exception("unhandled error outside the resolver")
                return _error_dict(500, "internal_error", "internal error; the request was not applied",
                                   str(event.get("path", "")).startswith("/v1/"))
        if commands is not None and is_eventbridge_event(event):
            return commands(event, context)
        if direct is not None:
            return direct(event, context)
        raise ValueError("unsupported event: expected an API Gateway proxy event")

    from credits.telemetry import instrument

    return instrument(handler, correlation_id_path="requestContext.requestId")
