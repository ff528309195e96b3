"""Service errors: each maps to one status code and error code of the contract."""

from __future__ import annotations

from typing import Any


class ServiceError(Exception):
    status = 500
    code = "internal_error"
    # Seconds a caller should wait before repeating the same request; set on answers that mean
    # "try again" (they carry Retry-After and are never stored under an Idempotency-Key).
    retry_after: int | None = None

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


class MissingReference(InvalidRequest):
    """A parameter names an object that does not exist (Stripe: 400 `resource_missing`)."""

    code = "resource_missing"


class Unauthorized(ServiceError):
    status = 401
    code = "unauthorized"


class NotFound(ServiceError):
    status = 404
    code = "not_found"


class Conflict(ServiceError):
    status = 409
    code = "conflict"


class RetryableConflict(Conflict):
    """409 that will pass when repeated: another request (or an unfinished one) holds the
    resource for now."""

    retry_after = 1


class ServiceUnavailable(ServiceError):
    """A dependency failed in a way a retry absorbs (throttling, a timeout, an internal error of
    DynamoDB or EventBridge): 503 with Retry-After; the write either committed or did not, and
    repeating the request (same Idempotency-Key or natural key) finishes it exactly once."""

    status = 503
    code = "service_unavailable"
    retry_after = 1

    def __init__(self, message: str = ("a dependency of the service failed for now; retry the same request (with "
                                       "the same Idempotency-Key): it finishes exactly once")):
        super().__init__(message)


class PayloadTooLarge(ServiceError):
    status = 413
    code = "payload_too_large"


class NotImplementedYet(ServiceError):
    status = 501
    code = "not_implemented"


class ConcurrentUpdate(Exception):
    """A conditional write lost a race: re-read and retry (internal, never reaches a caller)."""


class InsufficientCredits(ServiceError):
    """STRICT consumption that usable credits cannot cover: nothing was consumed."""

    status = 402
    code = "insufficient_credits"
