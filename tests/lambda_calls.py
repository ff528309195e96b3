"""Calling the service's own Lambda handlers (functions/<name>/app.py) in-process, with API
Gateway proxy events as the local stack builds them: for tests on DynamoDB Local that need the
whole request path (resolver, Idempotency-Key, error mapping) without an HTTP server."""

from __future__ import annotations

import importlib.util
import json
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
ROUTES = {  # (method, path prefix) -> function; the first match wins
    ("GET", ""): "list",
    ("POST", "/credit-applications"): "apply",
    ("POST", "/v1/billing/credit_grants/void"): "void",
    ("POST", "/credit-grants/void"): "void",
    ("POST", ""): "grant",
    ("PATCH", ""): "grant",
    ("DELETE", ""): "grant",
}


def load_function(name: str) -> Any:
    spec = importlib.util.spec_from_file_location(f"fn_{name}_{uuid.uuid4().hex[:8]}", ROOT / "functions" / name / "app.py")
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


class Functions:
    """The handlers, loaded once (each module builds its resolver at import)."""

    def __init__(self) -> None:
        self.modules: dict[str, Any] = {}

    def module(self, name: str) -> Any:
        if name not in self.modules:
            self.modules[name] = load_function(name)
        return self.modules[name]

    def function_for(self, method: str, path: str) -> str:
        if method == "POST" and (path.endswith("/void") or path.endswith("/expire")):
            return "void"
        if method == "POST" and path.startswith("/credit-applications"):
            return "apply"
        return "list" if method == "GET" else "grant"


class Api:
    """`call(method, path, ...)` -> (status, headers, body as JSON)."""

    def __init__(self, account: str = "acct_a", functions: Functions | None = None):
        self.account = account
        self.functions = functions or Functions()

    def event(self, method: str, path: str, *, body: Any = None, query: dict[str, str] | None = None,
              headers: dict[str, str] | None = None) -> dict[str, Any]:
        stripe = path.startswith("/v1/")
        if body is not None and not isinstance(body, str):
            body = urlencode(body) if stripe else json.dumps(body)
        content_type = "application/x-www-form-urlencoded" if stripe else "application/json"
        return {
            "httpMethod": method, "path": path, "resource": path, "body": body, "isBase64Encoded": False,
            "headers": {"Content-Type": content_type, **(headers or {})}, "multiValueHeaders": {},
            "pathParameters": None,
            "queryStringParameters": dict(query) if query else None,
            "multiValueQueryStringParameters": {k: [v] for k, v in query.items()} if query else None,
            "requestContext": {"requestId": uuid.uuid4().hex, "stage": "test", "httpMethod": method, "path": path,
                               "resourcePath": path, "authorizer": {"accountId": self.account}},
        }

    def call(self, method: str, path: str, *, body: Any = None, query: dict[str, str] | None = None,
             headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], Any]:
        name = self.functions.function_for(method, path)
        result = self.functions.module(name).lambda_handler(self.event(method, path, body=body, query=query,
                                                                       headers=headers), None)
        text = result.get("body") or ""
        headers_out = {**(result.get("headers") or {}),
                       **{k: v[-1] for k, v in (result.get("multiValueHeaders") or {}).items() if v}}
        return int(result["statusCode"]), headers_out, json.loads(text) if text else None

    def run_schedule(self) -> dict[str, Any]:
        return self.functions.module("expiry").lambda_handler({"source": "aws.events", "detail-type": "Scheduled Event",
                                                               "detail": {}}, None)
