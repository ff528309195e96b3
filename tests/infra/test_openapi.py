"""docs/openapi.json is what the code generates, and it documents every route of template.yaml
with its security and error responses."""

from __future__ import annotations

import difflib
import json
from types import SimpleNamespace

import pytest

from local.template import api_routes
from tools.openapi import DOCUMENT, REGENERATE, generate, render

HTTP_METHODS = ("get", "post", "put", "patch", "delete")


@pytest.fixture(scope="module")
def document() -> dict:
    return generate()


def _operations(document: dict):
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in HTTP_METHODS:
                yield path, method, operation


def test_committed_document_is_what_the_code_generates():
    generated = render()
    committed = DOCUMENT.read_text(encoding="utf-8") if DOCUMENT.is_file() else ""
    if committed != generated:
        diff = "".join(difflib.unified_diff(committed.splitlines(True), generated.splitlines(True),
                                            "docs/openapi.json (committed)", "generated", n=2))
        pytest.fail(f"docs/openapi.json is out of date; regenerate it with:\n    {REGENERATE}\n\n{diff[:6000]}")


def test_document_is_openapi_3_1_with_title_version_description(document):
    assert document["openapi"].startswith("3.1")
    assert document["info"]["title"] and document["info"]["version"] and document["info"]["description"]
    assert document["components"]["securitySchemes"]["bearerAuth"] == {
        **document["components"]["securitySchemes"]["bearerAuth"], "type": "http", "scheme": "bearer"}


def test_every_template_api_route_is_documented(document):
    documented = {(method.upper(), path) for path, method, _ in _operations(document)}
    missing = sorted({(r.method, r.path) for r in api_routes()
                      if r.path != "/swagger" and r.path.split("/")[1] != "console"  # web pages, not API operations
                      and (r.method, r.path) not in documented})
    assert not missing, f"template.yaml routes missing from the OpenAPI document: {missing}"


def test_every_documented_operation_is_a_template_route(document):
    served = {(r.method, r.path) for r in api_routes()}
    extra = sorted((m.upper(), p) for p, m, _ in _operations(document) if (m.upper(), p) not in served)
    assert not extra, f"documented but not routed by template.yaml (API Gateway would answer 403/404): {extra}"


def test_every_operation_requires_the_bearer_key(document):
    for path, method, operation in _operations(document):
        assert operation.get("security") == [{"bearerAuth": []}], f"{method.upper()} {path}"


def test_every_operation_documents_its_error_responses(document):
    for path, method, operation in _operations(document):
        expected = {"400", "401", "404", "413", "500"} | ({"409"} if method != "get" else set())
        responses = operation["responses"]
        assert expected <= set(responses), f"{method.upper()} {path}: missing {sorted(expected - set(responses))}"
        assert "422" not in responses, f"{method.upper()} {path}: the service answers 400, never 422"
        for status in expected:
            schema = responses[status]["content"]["application/json"]["schema"]
            text = json.dumps(schema)
            wanted = "StripeErrorBody" if path.startswith("/v1/") else "#/components/schemas/ErrorBody"
            if not path.startswith("/v1/"):
                assert "StripeErrorBody" not in text, f"{method.upper()} {path} {status}"
            assert wanted in text, f"{method.upper()} {path} {status}: {text}"
        assert any(s.startswith("2") for s in responses), f"{method.upper()} {path}: no success response"


def test_success_statuses_are_the_ones_the_routes_answer(document):
    paths = document["paths"]
    assert {"201", "200"} <= set(paths["/credit-applications"]["post"]["responses"])
    assert "201" in paths["/credit-grants"]["post"]["responses"]
    assert "204" in paths["/credit-grants/{grantId}"]["delete"]["responses"]
    assert "content" not in paths["/credit-grants/{grantId}"]["delete"]["responses"]["204"]


def test_json_bodies_and_responses_have_the_models(document):
    post = document["paths"]["/credit-grants"]["post"]
    assert post["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/CreateGrantRequest"}
    grant = document["components"]["schemas"]["Grant"]
    assert {"id", "originalAmount", "currentBalance", "pendingAmount", "status", "scheduleId"} <= set(grant["properties"])
    assert document["components"]["schemas"]["CreateGrantRequest"]["additionalProperties"] is False


def test_stripe_routes_take_form_bodies():
    document = generate()
    create = document["paths"]["/v1/billing/credit_grants"]["post"]
    form = create["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"]
    assert "amount[monetary][value]" in form["properties"]


def _swagger_event(query: dict | None = None) -> dict:
    return {"httpMethod": "GET", "path": "/swagger", "resource": "/swagger", "headers": {},
            "multiValueHeaders": {}, "queryStringParameters": query, "body": None, "isBase64Encoded": False,
            "requestContext": {"requestId": "swagger-test", "stage": "prod", "httpMethod": "GET",
                               "path": "/prod/swagger", "resourcePath": "/swagger"}}


def test_swagger_ui_only_when_enabled(monkeypatch):
    from pathlib import Path

    from credits.settings import get_settings

    from tools import openapi

    root = Path(__file__).resolve().parents[2]
    module = openapi.load_function_module(root / "functions" / "list" / "app.py")
    context = SimpleNamespace(function_name="ListFunction", memory_limit_in_mb=512, function_version="$LATEST",
                              invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:ListFunction",
                              aws_request_id="swagger-test", log_group_name="g", log_stream_name="s")
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    monkeypatch.setenv("TABLE_NAME", "credits-swagger-test")  # required settings; the route reads no table
    monkeypatch.setenv("CURSOR_SECRET", "swagger-test-cursor-secret")
    try:
        monkeypatch.setenv("ENABLE_SWAGGER", "false")
        get_settings.cache_clear()
        off = module.lambda_handler(_swagger_event(), context)
        assert off["statusCode"] == 404 and json.loads(off["body"])["error"]["code"] == "not_found"

        monkeypatch.setenv("ENABLE_SWAGGER", "true")
        get_settings.cache_clear()
        page = module.lambda_handler(_swagger_event(), context)
        assert page["statusCode"] == 200 and "swagger-ui" in page["body"].lower()
        spec = module.lambda_handler(_swagger_event({"format": "json"}), context)
        assert spec["statusCode"] == 200
        assert json.loads(spec["body"]) == json.loads(render())
    finally:
        get_settings.cache_clear()
