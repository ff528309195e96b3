"""The HTTP API as API Gateway (REST, v1) runs it: routes and authorizer from template.yaml,
Lambda proxy events in, proxy responses out — what `sam local start-api` does, in-process."""

from __future__ import annotations

import base64
import binascii
import fnmatch
import json
import secrets
import string
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, unquote

from local.httpd import BadFraming, BodyTooLarge, Handler, Server
from local.lambdas import ACCOUNT_ID, REGION, FunctionRuntime, log_exception
from local.template import AuthorizerSpec, FunctionSpec, authorizers, gateway_responses, stage_name

API_ID = "local"
# API Gateway's own default bodies; the template's GatewayResponses replace them, as in AWS
# (the product's error shape lives only there, never here).
_UNAUTHORIZED_BODY = '{"message":"Unauthorized"}'
_ACCESS_DENIED_BODY = '{"Message":"User is not authorized to access this resource with an explicit deny"}'
_MISSING_ROUTE_BODY = '{"message":"Missing Authentication Token"}'
_5XX_BODY = '{"message": "Internal server error"}'
# Headers that describe our own framing, not the handler's response.
_HOP_HEADERS = {"content-length", "transfer-encoding", "connection", "keep-alive"}


# ---------------------------------------------------------------------------------------------
# Routing
# ---------------------------------------------------------------------------------------------


@dataclass
class Route:
    method: str
    path: str  # template, e.g. /credit-grants/{grantId}
    function: str
    authorizer: str | None
    segments: list[str]

    def match(self, parts: list[str]) -> tuple[tuple[int, ...], dict[str, str]] | None:
        """(rank, raw path params) if this route matches; a lower rank is more specific
        (a literal segment beats a {param} at the same position, which beats {proxy+})."""
        params, rank = {}, []
        for i, seg in enumerate(self.segments):
            if seg.startswith("{") and seg.endswith("+}"):
                if i >= len(parts):
                    return None
                params[seg[1:-2]] = "/".join(parts[i:])
                rank.append(2)
                return tuple(rank), params
            if i >= len(parts):
                return None
            if seg.startswith("{") and seg.endswith("}"):
                if parts[i] == "":
                    return None
                params[seg[1:-1]] = parts[i]
                rank.append(1)
            elif seg == parts[i]:
                rank.append(0)
            else:
                return None
        return (tuple(rank), params) if len(parts) == len(self.segments) else None


class Router:
    def __init__(self, specs: dict[str, FunctionSpec]):
        self.routes = [
            Route(ev.method, ev.path, spec.logical_id, ev.authorizer, _split(ev.path))
            for spec in specs.values()
            for ev in spec.api_events
        ]

    def resolve(self, method: str, path: str) -> tuple[Route | None, dict[str, str], list[str]]:
        """(route, URL-decoded path params, methods allowed on the matching path). `path` is the
        raw (still percent-encoded) path: it is split on its real slashes only, so an encoded
        slash (%2F) stays inside one segment, as API Gateway routes it."""
        parts = [unquote(part) for part in _split(path)]
        candidates = []
        for route in self.routes:
            hit = route.match(parts)
            if hit:
                candidates.append((hit[0], route, hit[1]))
        if not candidates:
            return None, {}, []
        best_rank = min(rank for rank, _, _ in candidates)
        best = [(route, params) for rank, route, params in candidates if rank == best_rank]
        allowed = sorted({route.method for route, _ in best})
        for route, params in best:
            if route.method in (method, "ANY"):
                return route, params, allowed
        return None, {}, allowed


def _split(path: str) -> list[str]:
    path = path.rstrip("/") or "/"  # API Gateway ignores a trailing slash
    return path.strip("/").split("/") if path != "/" else []


# ---------------------------------------------------------------------------------------------
# The authorizer (a Lambda REQUEST authorizer returning an IAM policy)
# ---------------------------------------------------------------------------------------------


class AuthorizerConfigurationError(Exception):
    """The authorizer failed or answered something API Gateway cannot use → 500."""


def _policy_allows(policy: dict[str, Any], method_arn: str) -> bool:
    """Evaluate the policy document for execute-api:Invoke on method_arn (explicit Deny wins)."""
    statements = (policy.get("policyDocument") or {}).get("Statement") or []
    if isinstance(statements, dict):
        statements = [statements]
    allowed = False
    for st in statements:
        actions = st.get("Action") or []
        actions = [actions] if isinstance(actions, str) else actions
        resources = st.get("Resource") or []
        resources = [resources] if isinstance(resources, str) else resources
        if not any(fnmatch.fnmatchcase("execute-api:Invoke", a) for a in actions):
            continue
        if not any(fnmatch.fnmatchcase(method_arn, r) for r in resources):
            continue
        if st.get("Effect") == "Deny":
            return False
        if st.get("Effect") == "Allow":
            allowed = True
    return allowed


def _authorizer_context(policy: dict[str, Any]) -> dict[str, Any]:
    """requestContext.authorizer: principalId plus the context, values as API Gateway passes
    them (strings; objects and arrays are refused)."""
    if not isinstance(policy, dict) or "principalId" not in policy or "policyDocument" not in policy:
        raise AuthorizerConfigurationError("authorizer response lacks principalId or policyDocument")
    result: dict[str, Any] = {"principalId": str(policy["principalId"])}
    for key, value in (policy.get("context") or {}).items():
        if isinstance(value, bool):
            result[key] = "true" if value else "false"
        elif isinstance(value, (str, int, float)):
            result[key] = str(value)
        elif value is None:
            result[key] = None
        else:
            raise AuthorizerConfigurationError(f"authorizer context value {key!r} must be a string, number or boolean")
    return result


class AuthorizerCache:
    """API Gateway caches a policy per identity source for ReauthorizeEvery seconds, and checks
    each request's methodArn against the cached policy (so a policy for one route only would
    deny the others, exactly as in AWS)."""

    def __init__(self) -> None:
        self._entries: dict[tuple[str, str], tuple[float, dict[str, Any]]] = {}
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str]) -> dict[str, Any] | None:
        with self._lock:
            hit = self._entries.get(key)
            if hit and hit[0] > time.monotonic():
                return hit[1]
            self._entries.pop(key, None)
            return None

    def put(self, key: tuple[str, str], policy: dict[str, Any], ttl: int) -> None:
        if ttl > 0:
            with self._lock:
                self._entries[key] = (time.monotonic() + ttl, policy)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


# ---------------------------------------------------------------------------------------------
# The gateway
# ---------------------------------------------------------------------------------------------


class Gateway:
    def __init__(self, runtime: FunctionRuntime, template: dict[str, Any], authorizer_ttl_seconds: int | None = None):
        self.runtime = runtime
        self.router = Router(runtime.specs)
        self.authorizers: dict[str, AuthorizerSpec] = authorizers(template)
        if authorizer_ttl_seconds is not None:  # a shorter cache than the template's (tests of revocation)
            for spec in self.authorizers.values():
                spec.ttl_seconds = authorizer_ttl_seconds
        self.stage = stage_name(template)
        self.responses = gateway_responses(template)
        self.auth_cache = AuthorizerCache()
        runtime.on_change(lambda _name: self.auth_cache.clear())  # an overridden authorizer
        self.server: Server | None = None

    def gateway_response(self, rtype: str, default_status: int, default_body: str) -> tuple[int, bytes]:
        status, body = self.responses.get(rtype, (None, None))
        if body is None and rtype not in ("DEFAULT_4XX", "DEFAULT_5XX"):
            family = "DEFAULT_5XX" if default_status >= 500 else "DEFAULT_4XX"
            _, body = self.responses.get(family, (None, None))
        return status or default_status, (body or default_body).encode()

    # -- events ----------------------------------------------------------------------------

    def _request_context(self, req: dict[str, Any], route: Route) -> dict[str, Any]:
        now = datetime.now(UTC)
        return {
            "accountId": ACCOUNT_ID,
            "apiId": API_ID,
            "resourceId": "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(6)),
            "resourcePath": route.path,
            "httpMethod": req["method"],
            "path": f"/{self.stage}{req['path']}",
            "stage": self.stage,
            "requestId": req["request_id"],
            "extendedRequestId": req["request_id"],
            "requestTime": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "requestTimeEpoch": int(now.timestamp() * 1000),
            "protocol": "HTTP/1.1",
            "domainName": req["host"],
            "domainPrefix": req["host"].split(".")[0],
            "identity": {
                "sourceIp": req["source_ip"],
                "userAgent": req["headers"].get("User-Agent"),
                "accessKey": None,
                "accountId": None,
                "caller": None,
                "user": None,
                "userArn": None,
                "apiKey": None,
                "cognitoIdentityId": None,
                "cognitoIdentityPoolId": None,
                "cognitoAuthenticationProvider": None,
                "cognitoAuthenticationType": None,
            },
        }

    def _base_event(self, req: dict[str, Any], route: Route, path_params: dict[str, str]) -> dict[str, Any]:
        return {
            "resource": route.path,
            "path": req["path"],
            "httpMethod": req["method"],
            "headers": req["headers"] or None,
            "multiValueHeaders": req["multi_headers"] or None,
            "queryStringParameters": req["query"] or None,
            "multiValueQueryStringParameters": req["multi_query"] or None,
            "pathParameters": path_params or None,
            "stageVariables": None,
            "requestContext": self._request_context(req, route),
        }

    def authorize(
        self, req: dict[str, Any], route: Route, path_params: dict[str, str]
    ) -> tuple[str, dict[str, Any] | None]:
        """("allow", requestContext.authorizer) | ("unauthorized", None) | ("denied", None).
        Raises AuthorizerConfigurationError for a broken authorizer (API Gateway's 500)."""
        spec = self.authorizers[route.authorizer]  # type: ignore[index]
        lower = {k.lower(): v for k, v in req["headers"].items()}
        identity = [lower.get(h.lower(), "") for h in spec.identity_headers]
        if not all(v.strip() for v in identity):
            return "unauthorized", None  # identity source missing: 401 without calling the authorizer
        method_arn = f"arn:aws:execute-api:{REGION}:{ACCOUNT_ID}:{API_ID}/{self.stage}/{req['method']}{req['path']}"
        cache_key = (spec.name, "\x00".join(identity))
        policy = self.auth_cache.get(cache_key)
        if policy is None:
            event = {"type": "REQUEST", "methodArn": method_arn, **self._base_event(req, route, path_params)}
            try:
                policy = self.runtime.invoke(spec.function, event)
            except Exception as exc:
                if str(exc) == "Unauthorized":
                    return "unauthorized", None
                log_exception(f"authorizer {spec.function} failed", exc)
                raise AuthorizerConfigurationError(str(exc)) from exc
            context = _authorizer_context(policy)  # validates the response before caching it
            self.auth_cache.put(cache_key, policy, spec.ttl_seconds)
        else:
            context = _authorizer_context(policy)
        return ("allow", context) if _policy_allows(policy, method_arn) else ("denied", None)

    def handle(self, req: dict[str, Any]) -> tuple[int, list[tuple[str, str]], bytes]:
        """One HTTP request → (status, headers, body)."""
        route, path_params, _allowed = self.router.resolve(req["method"], req.get("raw_path", req["path"]))
        if route is None:
            # A REST API answers an unknown path, and a method a path lacks, alike.
            status, body = self.gateway_response("MISSING_AUTHENTICATION_TOKEN", 403, _MISSING_ROUTE_BODY)
            return status, [("Content-Type", "application/json"), ("x-amzn-ErrorType", "MissingAuthenticationTokenException")], body

        event = self._base_event(req, route, path_params)
        if route.authorizer:
            try:
                verdict, authorizer = self.authorize(req, route, path_params)
            except AuthorizerConfigurationError:
                status, body = self.gateway_response("AUTHORIZER_CONFIGURATION_ERROR", 500, _5XX_BODY)
                return status, [("Content-Type", "application/json"), ("x-amzn-ErrorType", "AuthorizerConfigurationException")], body
            if verdict == "unauthorized":
                status, body = self.gateway_response("UNAUTHORIZED", 401, _UNAUTHORIZED_BODY)
                return status, [("Content-Type", "application/json"), ("x-amzn-ErrorType", "UnauthorizedException")], body
            if verdict == "denied":
                status, body = self.gateway_response("ACCESS_DENIED", 403, _ACCESS_DENIED_BODY)
                return status, [("Content-Type", "application/json"), ("x-amzn-ErrorType", "AccessDeniedException")], body
            event["requestContext"]["authorizer"] = {**authorizer, "integrationLatency": 0}

        raw = req["body"]
        if raw:
            try:
                event["body"], event["isBase64Encoded"] = raw.decode("utf-8"), False
            except UnicodeDecodeError:
                event["body"], event["isBase64Encoded"] = base64.b64encode(raw).decode(), True
        else:
            event["body"], event["isBase64Encoded"] = None, False

        try:
            result = self.runtime.invoke(route.function, event)
            return self._proxy_response(result)
        except Exception as exc:  # noqa: BLE001 - API Gateway answers 502 for any Lambda error
            log_exception(f"{route.function} failed on {req['method']} {req['path']}", exc)
            status, body = self.gateway_response("DEFAULT_5XX", 502, _5XX_BODY)
            return 502, [("Content-Type", "application/json"), ("x-amzn-ErrorType", "InternalServerErrorException")], body

    @staticmethod
    def _proxy_response(result: Any) -> tuple[int, list[tuple[str, str]], bytes]:
        if not isinstance(result, dict) or not isinstance(result.get("statusCode"), int):
            raise ValueError(f"Malformed Lambda proxy response: {str(result)[:200]}")
        headers: list[tuple[str, str]] = []
        multi = result.get("multiValueHeaders") or {}
        for name, values in multi.items():
            if name.lower() not in _HOP_HEADERS:
                headers.extend((name, str(v)) for v in values)
        seen = {name.lower() for name in multi}
        for name, value in (result.get("headers") or {}).items():
            if name.lower() not in seen and name.lower() not in _HOP_HEADERS:
                headers.append((name, str(value)))
        body = result.get("body") or ""
        if result.get("isBase64Encoded"):
            try:
                payload = base64.b64decode(body)
            except (binascii.Error, ValueError) as exc:
                raise ValueError("Malformed Lambda proxy response: invalid base64 body") from exc
        else:
            payload = body.encode("utf-8") if isinstance(body, str) else json.dumps(body).encode()
        return result["statusCode"], headers, payload

    # -- server ----------------------------------------------------------------------------

    def serve(self, host: str = "127.0.0.1", port: int = 3000, quiet: bool = False) -> Server:
        gateway = self

        class ApiHandler(Handler):
            def _dispatch(self) -> None:
                request_id = str(uuid.uuid4())
                try:
                    body = self.read_body()
                except BodyTooLarge:
                    status, payload = gateway.gateway_response("REQUEST_TOO_LARGE", 413, '{"message": "Request Too Long"}')
                    return self.send(status, payload, [("Content-Type", "application/json"), ("Connection", "close")])
                except BadFraming:
                    # A request API Gateway cannot read: its DEFAULT_4XX gateway response (the
                    # template's body, as in AWS), never the handler.
                    status, payload = gateway.gateway_response("DEFAULT_4XX", 400, '{"message": "Bad Request"}')
                    return self.send(status, payload, [("Content-Type", "application/json"), ("Connection", "close")])
                raw_path, _, raw_query = self.path.partition("?")
                headers: dict[str, str] = {}
                multi_headers: dict[str, list[str]] = {}
                for name, value in self.headers.items():
                    headers[name] = value  # the last value wins, as in API Gateway
                    multi_headers.setdefault(name, []).append(value)
                query: dict[str, str] = {}
                multi_query: dict[str, list[str]] = {}
                for key, value in parse_qsl(raw_query, keep_blank_values=True):
                    query[key] = value
                    multi_query.setdefault(key, []).append(value)
                req = {
                    "method": self.command,
                    "path": unquote(raw_path) or "/",
                    "raw_path": raw_path or "/",
                    "headers": headers,
                    "multi_headers": multi_headers,
                    "query": query,
                    "multi_query": multi_query,
                    "body": body,
                    "source_ip": self.client_address[0],
                    "host": self.headers.get("Host", "127.0.0.1"),
                    "request_id": request_id,
                }
                try:
                    status, out_headers, payload = gateway.handle(req)
                except Exception as exc:  # noqa: BLE001 - a bug here must not kill the connection
                    log_exception("gateway error", exc)
                    status, out_headers, payload = 500, [("Content-Type", "application/json")], _5XX_BODY.encode()
                self.send(status, payload, [*out_headers, ("x-amzn-RequestId", request_id)])

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _dispatch  # noqa: N815

            def __getattr__(self, name: str):
                # Any other method (TRACE, QUERY, …) goes to the router too, which answers 403/405
                # as API Gateway would, instead of http.server's HTML 501.
                if name.startswith("do_"):
                    return self._dispatch
                raise AttributeError(name)

        class QuietApiHandler(ApiHandler):
            quiet = True

        self.server = Server(host, port, QuietApiHandler if quiet else ApiHandler, "api").start()
        return self.server

    def stop(self) -> None:
        if self.server:
            self.server.stop()
            self.server = None

