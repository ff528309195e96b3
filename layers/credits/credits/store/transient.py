"""Which failures of a dependency a retry absorbs: throttling, timeouts, lost connections,
internal errors of DynamoDB or EventBridge, a transaction cancelled for capacity or a conflict.
The API answers those 503 with Retry-After (never 500); the write either committed or did not,
and the same request repeated finishes it exactly once."""

from __future__ import annotations

_CODES = {
    "ProvisionedThroughputExceededException", "ThrottlingException", "Throttling", "RequestLimitExceeded",
    "InternalServerError", "InternalFailure", "ServiceUnavailable", "ServiceUnavailableException",
    "TransactionInProgressException", "TransactionConflictException", "LimitExceededException",
    "RequestTimeout", "RequestTimeoutException",
}
_REASONS = {"None", "ThrottlingError", "ProvisionedThroughputExceeded", "TransactionConflict",
            "ConditionalCheckFailed"}
_NETWORK = {"ReadTimeoutError", "ConnectTimeoutError", "EndpointConnectionError", "ConnectionClosedError",
            "ProxyConnectionError", "SSLError", "HTTPClientError"}


def _transient(exc: BaseException) -> bool:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = (response.get("Error") or {}).get("Code")
        if code in _CODES:
            return True
        if code == "TransactionCanceledException":
            reasons = {r.get("Code") or "None" for r in response.get("CancellationReasons") or []}
            return bool(reasons) and reasons <= _REASONS and reasons != {"None"}
        if isinstance(response.get("ResponseMetadata"), dict) and \
                int(response["ResponseMetadata"].get("HTTPStatusCode") or 0) >= 500:
            return True
    return type(exc).__name__ in _NETWORK or isinstance(exc, (ConnectionError, TimeoutError))


def is_transient(exc: BaseException) -> bool:
    """True when `exc`, or an exception it was raised from, is a failure a retry absorbs."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if _transient(current):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False
