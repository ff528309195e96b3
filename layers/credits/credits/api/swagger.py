"""GET /swagger: Swagger UI over the service's OpenAPI document, 404 unless EnableSwagger.

The document is built at build time (`make openapi`, tools/openapi.py) into docs/openapi.json;
in the source tree (the local stack) that file is served. A deployed function has only its
own code, so it serves what Powertools documents of its own resolver."""

from __future__ import annotations

import json
from pathlib import Path

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response

from credits.domain.errors import NotFound
from credits.settings import get_settings

# layers/credits/credits/api/swagger.py -> the source tree's docs/openapi.json
SOURCE_TREE_DOCUMENT = Path(__file__).resolve().parents[4] / "docs" / "openapi.json"


def _document(app: APIGatewayRestResolver) -> str:
    if SOURCE_TREE_DOCUMENT.is_file():
        text = SOURCE_TREE_DOCUMENT.read_text(encoding="utf-8")
    else:
        text = app.get_openapi_json_schema(title="Credit grants service")
    return json.dumps(json.loads(text), ensure_ascii=False).replace("</", "<\\/")


def enable_swagger(app: APIGatewayRestResolver, path: str = "/swagger") -> None:
    @app.get(path, include_in_schema=False)
    def swagger():  # no return annotation: Powertools would validate the HTML as a model
        if not get_settings().enable_swagger:
            raise NotFound("no such route")
        spec = _document(app)
        query = app.current_event.query_string_parameters or {}
        if query.get("format") == "json":
            return Response(status_code=200, content_type="application/json", body=spec)
        # Imported with the first /swagger request: Powertools' Swagger UI module loads its OpenAPI
        # models, about 0.13x of the boto3 floor on ListFunction's cold start (BENCHMARKS.md "Cold start").
        from aws_lambda_powertools.event_handler.openapi import swagger_ui as swagger_ui_module
        from aws_lambda_powertools.event_handler.openapi.swagger_ui import generate_swagger_html

        assets = Path(swagger_ui_module.__file__).parent
        html = generate_swagger_html(spec, (assets / "swagger-ui-bundle.min.js").read_text(encoding="utf-8"),
                                     (assets / "swagger-ui.min.css").read_text(encoding="utf-8"),
                                     None, None, False)
        return Response(status_code=200, content_type="text/html", body=html)
