"""The service's one OpenAPI 3.1 document, built from the Powertools resolvers of every HTTP
function (each `functions/<name>/app.py` has its own resolver `app`).

Powertools documents each resolver's routes, request models and success responses. This module
merges them and adds what Powertools cannot know: the bearer security on every operation, the
error responses the service really gives (400/401/404/409/413/429/500 with the contract's
ErrorBody, Stripe's envelope on /v1), 400 instead of Powertools' 422, the success status of
routes that answer something else than 200 (201 on create, 204 on delete), and the form bodies,
query parameters and objects of the Stripe-compatible routes, which parse their own input.

`make openapi` writes it to docs/openapi.json (`python -m tools.openapi`); Swagger UI serves it
at /swagger when the EnableSwagger parameter is true.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import sys
import typing
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from pydantic import BaseModel

ROOT = Path(__file__).resolve().parents[1]
DOCUMENT = ROOT / "docs" / "openapi.json"
REGENERATE = "make openapi   (or: .venv/bin/python -m tools.openapi > docs/openapi.json)"
# The layer's package, importable without installing it (the functions import `credits`).
if str(ROOT / "layers" / "credits") not in sys.path:
    sys.path.insert(0, str(ROOT / "layers" / "credits"))

TITLE = "Credit grants service"
VERSION = "1.0.0"
DESCRIPTION = (
    "Prepaid and promotional billing credits: grants, a ledger, balances, applications to "
    "invoices, expiry, reports, and a Stripe-compatible view under /v1/billing.\n\n"
    "Every request is authenticated with `Authorization: Bearer <api key>`; the key's account is "
    "the tenant. Amounts are decimal strings. Errors have the body "
    "`{\"error\": {\"code\", \"message\", \"details\"}}` (Stripe's error envelope on /v1)."
)
SECURITY_SCHEME = "bearerAuth"
SECURITY = [{SECURITY_SCHEME: []}]

# Powertools' own validation schemas (its 422), replaced by the contract's 400.
_POWERTOOLS_ERROR_SCHEMAS = ("HTTPValidationError", "ValidationError", "ResponseValidationError")

ERROR_CODES = {
    400: ("validation_error", "Malformed JSON, unknown field, wrong type, out-of-range value or bad cursor"),
    401: ("unauthorized", "Missing or unknown API key"),
    404: ("not_found", "No such resource in this account (or no such route)"),
    409: ("conflict", "The resource's state forbids it, or an Idempotency-Key was reused with another body"),
    413: ("payload_too_large", "Request body larger than 256 KB"),
    429: ("rate_limited", "Too many requests"),
    500: ("internal_error", "Unexpected error; the request was not applied"),
}
# 409 only where something is written: a GET cannot conflict.
_WRITE_METHODS = {"post", "put", "patch", "delete"}


def error_statuses(method: str) -> list[int]:
    return [s for s in ERROR_CODES if s != 409 or method.lower() in _WRITE_METHODS]


# ====================================================================== discovery


def default_functions_dir() -> Path | None:
    """functions/ of this source tree."""
    candidate = ROOT / "functions"
    return candidate if candidate.is_dir() and (ROOT / "template.yaml").is_file() else None


def load_function_module(app_file: Path) -> Any:
    """Import functions/<name>/app.py as `fn_<name>_app`, as local/lambdas.py does (the same
    module object when the local stack has already loaded it)."""
    code_dir = app_file.parent.resolve()
    module_name = f"fn_{code_dir.name}_{app_file.stem}".replace("-", "_")
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, app_file)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    sys.path.insert(0, str(code_dir))
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(module_name, None)
        raise
    finally:
        sys.path.remove(str(code_dir))
    return module


def discover_resolvers(functions_dir: Path) -> dict[str, APIGatewayRestResolver]:
    """{function dir name: its resolver} for every functions/*/app.py that has a resolver `app`."""
    resolvers = {}
    for app_file in sorted(functions_dir.glob("*/app.py")):
        module = load_function_module(app_file)
        app = getattr(module, "app", None)
        if isinstance(app, APIGatewayRestResolver):
            resolvers[app_file.parent.name] = app
    return resolvers


# ====================================================================== building


def _dump(model: Any) -> dict[str, Any]:
    return json.loads(model.model_dump_json(by_alias=True, exclude_none=True))


def _routes(app: APIGatewayRestResolver) -> list[Any]:
    return [r for r in [*app._static_routes, *app._dynamic_routes] if r.include_in_schema]  # noqa: SLF001


def _returns_no_body(func: Any) -> bool:
    """True for a handler annotated `-> Response[None]` (it answers 204)."""
    try:
        hint = typing.get_type_hints(func).get("return")
    except Exception:  # noqa: BLE001 - unresolvable annotations: fall back to the raw string
        hint = getattr(func, "__annotations__", {}).get("return")
    if isinstance(hint, str):
        return hint.replace(" ", "") in ("Response[None]", "Response[NoneType]")
    return typing.get_origin(hint) is Response and typing.get_args(hint) in ((type(None),), (None,))


def build_document(resolvers: Mapping[str, APIGatewayRestResolver] | Iterable[APIGatewayRestResolver]) -> dict[str, Any]:
    """One OpenAPI 3.1 document for all the resolvers' routes, with security and errors."""
    apps = list(resolvers.values()) if isinstance(resolvers, Mapping) else list(resolvers)
    paths: dict[str, dict[str, Any]] = {}
    schemas: dict[str, Any] = {}
    for app in apps:
        part = _dump(app.get_openapi_schema(title=TITLE, version=VERSION))
        for name, schema in ((part.get("components") or {}).get("schemas") or {}).items():
            if name in schemas and schemas[name] != schema:
                raise ValueError(f"two different schemas are both called {name!r}: rename one of the models")
            schemas[name] = schema
        for path, operations in (part.get("paths") or {}).items():
            for method, operation in operations.items():
                if method in paths.get(path, {}):
                    raise ValueError(f"{method.upper()} {path} is served by two functions")
                paths.setdefault(path, {})[method] = operation
        for route in _routes(app):
            _fix_success(paths[route.openapi_path][route.method.lower()], route)
            _document_query_model(paths[route.openapi_path][route.method.lower()], route)

    for (method, path), example in REQUEST_EXAMPLES.items():
        body = ((paths.get(path, {}).get(method) or {}).get("requestBody") or {}).get("content", {})
        if "application/json" in body:
            body["application/json"]["examples"] = copy.deepcopy(example)

    for name in _POWERTOOLS_ERROR_SCHEMAS:
        schemas.pop(name, None)
    schemas.update(_error_schemas())
    schemas.update(STRIPE_SCHEMAS)

    for path, operations in paths.items():
        for method, operation in operations.items():
            stripe = path.startswith("/v1/")
            if stripe:
                _stripe_operation(path, method, operation)
            operation.pop("security", None)
            operation["security"] = copy.deepcopy(SECURITY)
            operation.setdefault("tags", [_tag(path)])
            responses = operation["responses"]
            responses.pop("422", None)
            for status in error_statuses(method):
                responses[str(status)] = _error_response(status, stripe)
            operation["responses"] = dict(sorted(responses.items()))

    document = {
        "openapi": "3.1.0",
        "info": {"title": TITLE, "version": VERSION, "description": DESCRIPTION},
        "servers": [{"url": "/"}],
        "paths": {path: dict(sorted(paths[path].items())) for path in sorted(paths)},
        "components": {
            "schemas": dict(sorted(schemas.items())),
            "securitySchemes": {
                SECURITY_SCHEME: {"type": "http", "scheme": "bearer",
                                  "description": "`Authorization: Bearer <api key>`; the key names the account"},
            },
        },
        "security": copy.deepcopy(SECURITY),
    }
    _check_refs(document)
    return document


# Valid requests (the contract's own examples), shown in Swagger UI and sent first by the fuzzer.
REQUEST_EXAMPLES: dict[tuple[str, str], dict[str, Any]] = {
    ("post", "/credit-grants"): {
        "cash": {"summary": "A paid cash grant", "value": {
            "customerId": "cus_123", "name": "On-boarding credits", "type": "CASH", "amount": "50.00",
            "currency": "USD", "category": "PAID", "priority": 50, "metadata": {"source": "docs"}}},
        "usage": {"summary": "A promotional usage grant", "value": {
            "customerId": "cus_123", "name": "Free API calls", "type": "USAGE", "amount": "10000",
            "metricId": "api_calls", "currency": "USD", "costOfCredit": "0", "category": "PROMOTIONAL"}},
    },
    ("patch", "/credit-grants/{grantId}"): {
        "rename": {"summary": "Rename, re-prioritise, never expire", "value": {
            "name": "Renamed credits", "priority": 10, "expiresAt": None}},
    },
    ("post", "/credit-grants/{grantId}/void"): {
        "void": {"summary": "Void a grant", "value": {"reason": "granted by mistake"}}},
    ("post", "/credit-applications"): {
        "invoice": {"summary": "Apply credits to an invoice", "value": {
            "invoiceId": "inv_001", "customerId": "cus_123", "currency": "USD",
            "lines": [{"lineId": "l1", "metricId": "api_calls", "quantity": "12000", "unitPrice": "0.01"},
                      {"lineId": "l2", "amount": "150.00"}],
            "settle": False}},
    },
    ("post", "/credit-applications/preview"): {
        "invoice": {"summary": "What would be applied", "value": {
            "invoiceId": "inv_002", "customerId": "cus_123", "currency": "USD",
            "lines": [{"lineId": "l1", "amount": "150.00"}]}},
    },
}


def _tag(path: str) -> str:
    if path.startswith("/v1/"):
        return "Stripe-compatible"
    return path.strip("/").split("/")[0]


def _fix_success(operation: dict[str, Any], route: Any) -> None:
    """The success status the route really answers: `status_code=` of the decorator (Powertools
    drops it when `responses=` is given), or 204 for `-> Response[None]`."""
    responses = operation.setdefault("responses", {})
    if _returns_no_body(route.func):
        status = str(route.status_code if route.status_code != 200 else 204)
        for code in [c for c in responses if c.startswith("2")]:
            del responses[code]
        responses[status] = {"description": "No Content"}
        return
    status = str(route.status_code)
    if status not in responses:
        model = next((responses[c] for c in sorted(responses) if c.startswith("2") and "content" in responses[c]), None)
        responses[status] = {"description": "Created" if status == "201" else "Successful Response"}
        if model is not None:
            responses[status]["content"] = copy.deepcopy(model["content"])


def _document_query_model(operation: dict[str, Any], route: Any) -> None:
    """A query-parameter model (`Annotated[Model, Query()]`) is listed by Powertools one parameter
    per field but with bare types: give each its field's schema (patterns, enums, bounds,
    defaults) and whether it is required, in the model's field order."""
    for param in route.dependant.query_params:
        model = param.field_info.annotation
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            continue
        schema = model.model_json_schema()
        required = set(schema.get("required", []))
        fields = {name: prop for name, prop in schema["properties"].items()}
        listed = [p for p in operation.get("parameters", []) if p.get("in") == "query" and p["name"] in fields]
        others = [p for p in operation.get("parameters", []) if p not in listed]
        for entry in listed:
            entry["schema"] = fields[entry["name"]]
            entry["required"] = entry["name"] in required
        order = list(fields)
        operation["parameters"] = others + sorted(listed, key=lambda p: order.index(p["name"]))


def _error_schemas() -> dict[str, Any]:
    from credits.models.api import ErrorBody

    generated = ErrorBody.model_json_schema(ref_template="#/components/schemas/{model}")
    result = {name: schema for name, schema in (generated.pop("$defs", None) or {}).items()}
    result["ErrorBody"] = generated
    # The contract's codes: each error response pins its own (see _error_response).
    result["ErrorDetail"]["properties"]["code"]["enum"] = [code for code, _ in ERROR_CODES.values()]
    return result


# Answered by API Gateway itself (GatewayResponses in template.yaml: one body for every path, the
# contract's) as well as by the function: on /v1 these may come in either envelope.
# What API Gateway answers itself (template GatewayResponses), /v1 routes included; 400 is
# DEFAULT_4XX, for a request it cannot read (a bad Content-Length).
_GATEWAY_STATUSES = {400, 401, 413, 429, 500}


def _error_response(status: int, stripe: bool) -> dict[str, Any]:
    code, description = ERROR_CODES[status]
    contract: dict[str, Any] = {"allOf": [{"$ref": "#/components/schemas/ErrorBody"},
                                          {"properties": {"error": {"properties": {"code": {"const": code}}}}}]}
    schema = contract
    if stripe:
        schema = {"$ref": "#/components/schemas/StripeErrorBody"}
        if status in _GATEWAY_STATUSES:
            description += " (from API Gateway itself: the contract's error body)"
            schema = {"anyOf": [schema, contract]}
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _check_refs(document: dict[str, Any]) -> None:
    """Every $ref points at a schema of the document."""
    known = set(document["components"]["schemas"])

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/components/schemas/") and ref.rsplit("/", 1)[1] not in known:
                raise ValueError(f"dangling $ref {ref}")
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(document)


# ====================================================================== the Stripe-compatible view
# Its routes take form bodies and bracket-keyed query strings that they parse themselves
# (credits.api.stripe.formbody, credits.api.stripe.view), so Powertools sees neither; they are declared here.


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


_STRING = {"type": "string"}
_NULLABLE_INT = {"type": ["integer", "null"]}
_MONETARY = {
    "type": "object", "required": ["type", "monetary"],
    "properties": {"type": {"const": "monetary"},
                   "monetary": {"type": "object", "required": ["currency", "value"],
                                "properties": {"currency": {"type": "string", "pattern": "^[a-z]{3}$"},
                                               "value": {"type": "integer"}}}},
}
_APPLIED = {"type": ["object", "null"], "required": ["invoice", "invoice_line_item"],
            "properties": {"invoice": {"type": ["string", "null"]}, "invoice_line_item": {"type": ["string", "null"]}}}

STRIPE_SCHEMAS: dict[str, Any] = {
    "StripeErrorBody": {
        "title": "StripeErrorBody", "type": "object", "required": ["error"],
        "properties": {"error": {
            "type": "object", "required": ["type", "code", "message"],
            "properties": {"type": {"enum": ["invalid_request_error", "idempotency_error", "api_error"]},
                           "code": _STRING, "message": _STRING, "param": _STRING}}},
    },
    "StripeMonetaryAmount": _MONETARY,
    "StripeCreditGrant": {
        "title": "StripeCreditGrant", "type": "object",
        "required": ["id", "object", "amount", "applicability_config", "category", "created", "customer",
                     "effective_at", "expires_at", "livemode", "metadata", "name", "priority", "test_clock",
                     "updated", "voided_at"],
        "properties": {
            "id": _STRING, "object": {"const": "billing.credit_grant"},
            "amount": _ref("StripeMonetaryAmount"),
            "applicability_config": {
                "type": "object", "required": ["scope"],
                "properties": {"scope": {"type": "object", "properties": {
                    "price_type": {"const": "metered"},
                    "prices": {"type": "array", "items": {"type": "object", "required": ["id"],
                                                          "properties": {"id": _STRING}}}}}}},
            "category": {"enum": ["paid", "promotional"]}, "created": {"type": "integer"},
            "customer": _STRING, "effective_at": _NULLABLE_INT, "expires_at": _NULLABLE_INT,
            "livemode": {"type": "boolean"},
            "metadata": {"type": "object", "additionalProperties": _STRING},
            "name": {"type": ["string", "null"]}, "priority": {"type": "integer", "minimum": 0, "maximum": 100},
            "test_clock": {"type": "null"}, "updated": {"type": "integer"}, "voided_at": _NULLABLE_INT,
        },
    },
    "StripeCreditBalanceSummary": {
        "title": "StripeCreditBalanceSummary", "type": "object",
        "required": ["object", "balances", "customer", "livemode"],
        "properties": {
            "object": {"const": "billing.credit_balance_summary"},
            "balances": {"type": "array", "items": {
                "type": "object", "required": ["available_balance", "ledger_balance"],
                "properties": {"available_balance": _ref("StripeMonetaryAmount"),
                               "ledger_balance": _ref("StripeMonetaryAmount")}}},
            "customer": _STRING, "livemode": {"type": "boolean"},
        },
    },
    "StripeCreditBalanceTransaction": {
        "title": "StripeCreditBalanceTransaction", "type": "object",
        "required": ["id", "object", "created", "credit", "credit_grant", "debit", "effective_at", "livemode",
                     "test_clock", "type"],
        "properties": {
            "id": _STRING, "object": {"const": "billing.credit_balance_transaction"},
            "created": {"type": "integer"}, "credit_grant": _STRING, "effective_at": {"type": "integer"},
            "livemode": {"type": "boolean"}, "test_clock": {"type": "null"}, "type": {"enum": ["credit", "debit"]},
            "credit": {"type": ["object", "null"], "required": ["amount", "type"], "properties": {
                "amount": _ref("StripeMonetaryAmount"),
                "type": {"enum": ["credits_granted", "credits_application_invoice_voided"]},
                "credits_application_invoice_voided": _APPLIED}},
            "debit": {"type": ["object", "null"], "required": ["amount", "type"], "properties": {
                "amount": _ref("StripeMonetaryAmount"),
                "type": {"enum": ["credits_applied", "credits_expired", "credits_voided"]},
                "credits_applied": _APPLIED}},
        },
    },
}


def _stripe_list(item: str, url: str) -> dict[str, Any]:
    return {"type": "object", "required": ["object", "data", "has_more", "url"],
            "properties": {"object": {"const": "list"}, "data": {"type": "array", "items": _ref(item)},
                           "has_more": {"type": "boolean"}, "url": {"const": url}}}


def _query(name: str, description: str, *, required: bool = False, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": required, "description": description,
            "schema": schema or {"type": "string"}}


_PAGING = [
    _query("limit", "1-100, default 10", schema={"type": "integer", "minimum": 1, "maximum": 100}),
    _query("starting_after", "a grant / transaction id: the page after it"),
    _query("ending_before", "a grant / transaction id: the page before it"),
]

_CREATE_FORM = {
    "type": "object",
    "required": ["customer", "amount[type]", "amount[monetary][currency]", "amount[monetary][value]",
                 "applicability_config[scope][price_type]"],
    "properties": {
        "customer": {"type": "string", "description": "customer id"},
        "name": {"type": "string", "maxLength": 100},
        "amount[type]": {"const": "monetary"},
        "amount[monetary][currency]": {"type": "string", "description": "lowercase ISO 4217 code, e.g. usd"},
        "amount[monetary][value]": {"type": "integer", "minimum": 1, "description": "minor units"},
        "applicability_config[scope][price_type]": {"const": "metered"},
        "category": {"enum": ["paid", "promotional"]},
        "priority": {"type": "integer", "minimum": 0, "maximum": 100},
        "effective_at": {"type": "integer", "description": "Unix seconds"},
        "expires_at": {"type": "integer", "description": "Unix seconds"},
    },
    "patternProperties": {r"^metadata\[[^\[\]]+\]$": {"type": "string", "maxLength": 500},
                          r"^applicability_config\[scope\]\[(prices|billable_items)\]\[\d+\]\[id\]$": {"type": "string"}},
    "additionalProperties": False,
    "description": "form-encoded with Stripe's bracket keys (`metadata[k]=v`, "
                   "`applicability_config[scope][prices][0][id]=metric`)",
}
_UPDATE_FORM = {
    "type": "object",
    "properties": {"expires_at": {"type": ["integer", "string"], "description": "Unix seconds; empty = never"}},
    "patternProperties": {r"^metadata\[[^\[\]]+\]$": {"type": "string", "maxLength": 500,
                                                      "description": "an empty value deletes the key"}},
    "additionalProperties": False,
}
_NO_FORM = {"type": "object", "properties": {}, "additionalProperties": False}

# (method, path) -> (query parameters, form body schema or None, success schema)
STRIPE_OPERATIONS: dict[tuple[str, str], tuple[list[dict[str, Any]], dict[str, Any] | None, dict[str, Any]]] = {
    ("post", "/v1/billing/credit_grants"): ([], _CREATE_FORM, _ref("StripeCreditGrant")),
    ("get", "/v1/billing/credit_grants"): (
        [_query("customer", "only this customer's grants"), *_PAGING],
        None, _stripe_list("StripeCreditGrant", "/v1/billing/credit_grants")),
    ("get", "/v1/billing/credit_grants/{id}"): ([], None, _ref("StripeCreditGrant")),
    ("post", "/v1/billing/credit_grants/{id}"): ([], _UPDATE_FORM, _ref("StripeCreditGrant")),
    ("post", "/v1/billing/credit_grants/{id}/void"): ([], _NO_FORM, _ref("StripeCreditGrant")),
    ("post", "/v1/billing/credit_grants/{id}/expire"): ([], _NO_FORM, _ref("StripeCreditGrant")),
    ("get", "/v1/billing/credit_balance_summary"): (
        [_query("customer", "customer id", required=True),
         _query("filter[type]", "applicability_scope or credit_grant",
                schema={"enum": ["applicability_scope", "credit_grant"]}),
         _query("filter[credit_grant]", "with filter[type]=credit_grant: the grant"),
         _query("filter[applicability_scope][price_type]", "with filter[type]=applicability_scope",
                schema={"const": "metered"})],
        None, _ref("StripeCreditBalanceSummary")),
    ("get", "/v1/billing/credit_balance_transactions"): (
        [_query("customer", "customer id", required=True), _query("credit_grant", "only this grant's"), *_PAGING],
        None, _stripe_list("StripeCreditBalanceTransaction", "/v1/billing/credit_balance_transactions")),
    ("get", "/v1/billing/credit_balance_transactions/{id}"): ([], None, _ref("StripeCreditBalanceTransaction")),
}


def _stripe_operation(path: str, method: str, operation: dict[str, Any]) -> None:
    declared = STRIPE_OPERATIONS.get((method, path))
    if declared is None:
        return
    query, form, success = declared
    params = [p for p in operation.get("parameters", []) if p.get("in") != "query"]
    operation["parameters"] = params + copy.deepcopy(query)
    if not operation["parameters"]:
        operation.pop("parameters")
    if form is not None:
        operation["requestBody"] = {"required": bool(form.get("required")), "content": {
            "application/x-www-form-urlencoded": {"schema": copy.deepcopy(form)}}}
    operation["parameters"] = operation.get("parameters", []) + [
        {"name": "Stripe-Version", "in": "header", "required": False, "description": "accepted, ignored",
         "schema": {"type": "string"}}]
    for code in [c for c in operation["responses"] if c.startswith("2")]:
        del operation["responses"][code]
    operation["responses"]["200"] = {"description": "Successful Response",
                                     "content": {"application/json": {"schema": copy.deepcopy(success)}}}


# ====================================================================== output and Swagger UI


def to_json(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def generate(functions_dir: Path | None = None) -> dict[str, Any]:
    """The document of the source tree's functions."""
    functions_dir = functions_dir or default_functions_dir()
    if functions_dir is None:
        raise RuntimeError("no functions/ directory next to this layer's source")
    return build_document(discover_resolvers(functions_dir))


def render() -> str:
    return to_json(generate())


def main() -> None:
    """`python -m tools.openapi > docs/openapi.json` (`make openapi`)."""
    sys.stdout.write(render())


if __name__ == "__main__":
    main()
