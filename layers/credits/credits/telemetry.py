"""Powertools Logger, Tracer and Metrics shared by every function.

Metrics are EMF lines flushed at the end of each invocation (`instrument`); business figures
(grants, applications, voids, expiries: counts and amounts) are added with `count`/`amount`."""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from decimal import Decimal
from functools import lru_cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from credits.domain.money import is_supported_currency, to_minor_units

logger = Logger(service="credits")
metrics = Metrics(namespace="CreditGrants", service="credits")
# An invocation that records no business metric is normal (a GET, say): don't warn about it.
warnings.filterwarnings("ignore", message="No application metrics to publish")


@lru_cache(maxsize=1)
def tracer():
    # Imported on first use (a measured cold-start cost): X-Ray's SDK is the slowest import of the stack.
    from aws_lambda_powertools import Tracer

    return Tracer(service="credits")


def count(name: str, value: int = 1) -> None:
    try:
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
    except Exception:  # noqa: BLE001 - a metric must never fail a committed write's response
        logger.warning("metric not recorded", extra={"metric": name})


def amount(name: str, value: Decimal, currency: str | None) -> None:
    """An amount as an integer figure: minor units of the currency, or whole units (monitoring only)."""
    figure = to_minor_units(value, currency) if currency and is_supported_currency(currency) else int(value)
    count(f"{name}{'_' + currency if currency else ''}", figure)


def instrument(handler: Callable[[Any, Any], Any], *, correlation_id_path: str | None = None) -> Callable[[Any, Any], Any]:
    """Wrap a lambda_handler with structured logging (correlation id), tracing and metrics."""
    # The X-Ray SDK is the slowest import of the stack: load it only where tracing is on.
    tracing = os.environ.get("POWERTOOLS_TRACE_DISABLED", "").lower() not in ("1", "true")
    traced = tracer().capture_lambda_handler(handler) if tracing else handler
    # Powertools' own switch: locally (and in tests) metrics are off, so no cold-start EMF line either.
    cold_start = os.environ.get("POWERTOOLS_METRICS_DISABLED", "").lower() not in ("1", "true")
    with_metrics = metrics.log_metrics(traced, capture_cold_start_metric=cold_start)
    instrumented = logger.inject_lambda_context(with_metrics, correlation_id_path=correlation_id_path, clear_state=True)

    def entry(event: Any, context: Any) -> Any:
        # Lambda always passes a context; a bare call (a script, a test) just runs the handler.
        return handler(event, context) if context is None else instrumented(event, context)

    return entry
