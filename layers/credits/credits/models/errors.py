"""The contract's error body, and the translation of pydantic's validation errors into its
`details` (one per field, named as the caller wrote it: `lines[0].quantity`)."""

from __future__ import annotations

from typing import Any


def error_body(code: str, message: str, details: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details or []}}


def field_path(loc: tuple[Any, ...] | list[Any]) -> str:
    """('body', 'lines', 0, 'quantity') -> 'lines[0].quantity'."""
    parts = list(loc)
    if len(parts) >= 3 and parts[0] == "query":
        parts = parts[2:]  # a query-parameter model: ('query', <model param>, field) names the field
    elif parts and parts[0] in ("body", "query", "path", "header"):
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
