"""Helpers shared by the end-to-end HTTP tests: ids, timestamps, decimals, grant bodies, and thin
wrappers over the `api` fixture (see conftest.py) that assert the happy-path status."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
DECIMAL = re.compile(r"^\d+(\.\d+)?$")


# ---------------------------------------------------------------- ids, times, amounts


def new_customer(length: int = 16) -> str:
    """A fresh customer id: "cus_" and `length` random hex digits."""
    return f"cus_{uuid.uuid4().hex[:length]}"


def new_invoice(length: int = 16) -> str:
    """A fresh invoice id: "inv_" and `length` random hex digits."""
    return f"inv_{uuid.uuid4().hex[:length]}"


def ts(value: str) -> datetime:
    assert TIMESTAMP.match(value), f"not an RFC 3339 UTC timestamp with Z: {value!r}"
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def day(offset: int) -> str:
    """Today (UTC) plus `offset` days, as YYYY-MM-DD."""
    return (datetime.now(UTC).date() + timedelta(days=offset)).isoformat()


def D(value: str) -> Decimal:  # noqa: N802 - reads as a constructor
    assert isinstance(value, str) and DECIMAL.match(value), value
    return Decimal(value)


# ---------------------------------------------------------------- grant bodies


def cash(customer: str, amount: str = "10.00", currency: str = "USD", **extra: Any) -> dict[str, Any]:
    return {"customerId": customer, "name": "Cash credits", "type": "CASH", "amount": amount, "currency": currency, **extra}


def usage(customer: str, amount: str = "1000", metric: str = "api_calls", **extra: Any) -> dict[str, Any]:
    return {"customerId": customer, "name": "Usage credits", "type": "USAGE", "amount": amount, "metricId": metric, **extra}


# ---------------------------------------------------------------- API calls


def create(api: Any, body: dict[str, Any], key: str = "key_a", **kwargs: Any) -> dict[str, Any]:
    response = api("POST", "/credit-grants", key=key, json=body, **kwargs)
    assert response.status_code == 201, response.text
    return response.json()


def get(api: Any, grant_id: str) -> dict[str, Any]:
    response = api("GET", f"/credit-grants/{grant_id}")
    assert response.status_code == 200, response.text
    return response.json()


def list_all(api: Any, path: str, key: str = "key_a", **params: Any) -> list[dict[str, Any]]:
    """Every item of a paginated list, following `pagination.after`."""
    items: list[dict[str, Any]] = []
    params = dict(params)
    for _ in range(200):
        response = api("GET", path, key=key, params=params)
        assert response.status_code == 200, response.text
        page = response.json()
        items.extend(page["items"])
        if page["pagination"]["after"] is None:
            return items
        params["after"] = page["pagination"]["after"]
    raise AssertionError("pagination never ended")


def transactions(api: Any, customer: str, **params: Any) -> list[dict[str, Any]]:
    return list_all(api, f"/customers/{customer}/credit-transactions", **params)


# ---------------------------------------------------------------- errors


def assert_error(response: Any, status: int, code: str, *, strict: bool = True) -> dict[str, Any]:
    """The contract's error body with `status` and `code`. strict=False skips the Content-Type and
    non-empty-message checks."""
    assert response.status_code == status, (response.status_code, response.text)
    if strict:
        assert response.headers.get("Content-Type", "").startswith("application/json"), response.headers
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "details"}, body
    assert body["error"]["code"] == code, body
    if strict:
        assert isinstance(body["error"]["message"], str) and body["error"]["message"], body
    assert isinstance(body["error"]["details"], list), body
    return body["error"]
