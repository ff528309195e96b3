"""Service errors: each maps to one status code and error code of the contract."""

from __future__ import annotations

from typing import Any


class ServiceError(Exception):
    status = 500
    code = "internal_error"

    def __init__(self, message: str, *, field: str | None = None, details: list[dict[str, Any]] | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        self.details = details if details is not None else ([{"field": field, "message": message}] if field else [])

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}


class InvalidRequest(ServiceError):
    status = 400
    code = "validation_error"


class Unauthorized(ServiceError):
    status = 401
    code = "unauthorized"


class NotFound(ServiceError):
    status = 404
    code = "not_found"


class Conflict(ServiceError):
    status = 409
    code = "conflict"


class PayloadTooLarge(ServiceError):
    status = 413
    code = "payload_too_large"


class NotImplementedYet(ServiceError):
    status = 501
    code = "not_implemented"


class ConcurrentUpdate(Exception):
    """A conditional write lost a race: re-read and retry (internal, never reaches a caller)."""
