"""The Stripe-shaped view of grants, ledger and balances (pure: no I/O).

Form/query params (already parsed by `formbody.parse_form` into nested dicts of strings) become
the JSON API's validated models, and records become Stripe's `billing.*` objects. Every bad or
missing param is an `InvalidRequest` whose `field` is the bracket param Stripe would name
(`amount[monetary][value]`), which the /v1 error envelope reports as `param`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import ValidationError

from credits.domain import money
from credits.domain.clock import from_unix, to_iso, to_unix
from credits.domain.errors import InvalidRequest, NotFound, ServiceError
from credits.domain.records import ZERO, GrantRecord, LedgerRecord
from credits.models.api import DOT_SEGMENTS, CreateGrantRequest, UpdateGrantRequest

DEFAULT_NAME = "Credit grant"  # Stripe's `name` is optional; ours is required
GRANTS_URL = "/v1/billing/credit_grants"
TRANSACTIONS_URL = "/v1/billing/credit_balance_transactions"

# Ledger entry types that move a balance in Stripe's view (SETTLED, EXPIRY_CHANGED, DELETED don't),
# each as the nearest of Stripe's transaction types, so that a customer's transactions sum to its
# ledger_balance: an increase adds credits like a grant; a decrease removes them like a (partial)
# void; a real-time consumption is an application without an invoice (`credits_applied` null);
# the part of a balance rolled over leaves the old grant as its expiry does (the rollover grant's
# own `credits_granted` brings it back).
_CREDIT_TYPES = {"GRANTED": "credits_granted", "ADJUSTED_UP": "credits_granted",
                 "RELEASED": "credits_application_invoice_voided"}
_DEBIT_TYPES = {"APPLIED": "credits_applied", "CONSUMED": "credits_applied", "EXPIRED": "credits_expired",
                "ROLLED_OVER": "credits_expired", "VOIDED": "credits_voided", "ADJUSTED_DOWN": "credits_voided"}
VISIBLE_ENTRY_TYPES = (*_CREDIT_TYPES, *_DEBIT_TYPES)

# Unix seconds accepted for effective_at / expires_at (through 9999-12-31).
_MAX_UNIX = 253370764799  # 9998-12-31T23:59:59Z: the last instant the JSON API accepts
_INT = re.compile(r"[0-9]+")
_ID = re.compile(r"[A-Za-z0-9_\-.:@+=]{1,128}")

# JSON-API field -> Stripe param, to re-name errors raised by the shared domain rules.
_FIELD_TO_PARAM = {
    "customerId": "customer",
    "name": "name",
    "amount": "amount[monetary][value]",
    "currency": "amount[monetary][currency]",
    "costOfCredit": "category",
    "category": "category",
    "priority": "priority",
    "metadata": "metadata",
    "applicability": "applicability_config[scope]",
    "effectiveAt": "effective_at",
    "expiresAt": "expires_at",
    "grantId": "id",
}


# ====================================================================== small parsers


def _invalid(param: str, message: str) -> InvalidRequest:
    return InvalidRequest(message, field=param)


def _missing(param: str) -> InvalidRequest:
    return InvalidRequest(f"Missing required param: {param}.", field=param)


def string_param(params: dict[str, Any], key: str, param: str | None = None, *, required: bool = False) -> str | None:
    """A scalar param; a nested object/array where a string is expected is an error."""
    param = param or key
    value = params.get(key)
    if value is None:
        if required:
            raise _missing(param)
        return None
    if not isinstance(value, str):
        raise _invalid(param, f"Invalid {param}: must be a string, not an object or array")
    return value


def _object(params: dict[str, Any], key: str, param: str, *, required: bool = False) -> dict[str, Any] | None:
    value = params.get(key)
    if value is None or value == "":
        if required:
            raise _missing(param)
        return None
    if not isinstance(value, dict):
        raise _invalid(param, f"Invalid {param}: must be an object (use {param}[key]=value)")
    return value


def reject_unknown(params: dict[str, Any], allowed: Iterable[str], prefix: str = "") -> None:
    for key in params:
        if key not in allowed:
            name = f"{prefix}[{key}]" if prefix else key
            raise _invalid(name, f"Received unknown parameter: {name}")


def _no_empty(value: str | None, param: str) -> str | None:
    """Stripe reads an empty string as "unset", which create params cannot be."""
    if value == "":
        raise _invalid(param, f"You passed an empty string for '{param}'. We assume empty values are an "
                              f"attempt to unset a parameter; however '{param}' cannot be unset.")
    return value


def parse_int(value: str | None, param: str, *, low: int, high: int) -> int | None:
    if value is None:
        return None
    if not _INT.fullmatch(value) or len(value) > 20:
        raise _invalid(param, f"Invalid integer: {value[:40]}")
    number = int(value)
    if not low <= number <= high:
        raise _invalid(param, f"Invalid {param}: must be between {low} and {high}")
    return number


def parse_unix(value: str | None, param: str) -> str | None:
    """Unix seconds -> the JSON API's RFC 3339 timestamp."""
    number = parse_int(value, param, low=1, high=_MAX_UNIX)
    return None if number is None else to_iso(from_unix(number))


def parse_id(value: str | None, param: str, *, required: bool = False) -> str | None:
    if value is None or value == "":
        if required:
            raise _missing(param)
        return None
    if not _ID.fullmatch(value) or value in DOT_SEGMENTS:
        raise _invalid(param, f"Invalid {param}: {value[:60]!r} is not a valid id")
    return value


def _metadata(value: Any, param: str = "metadata") -> dict[str, str] | None:
    """`metadata[k]=v` pairs; `metadata=` (empty) means "none". None when not given."""
    if value is None:
        return None
    if value == "":
        return {}
    if not isinstance(value, dict):
        raise _invalid(param, "Invalid metadata: use metadata[key]=value")
    for key, item in value.items():
        if not isinstance(item, str):
            raise _invalid(f"{param}[{key}]", "Invalid metadata value: must be a string")
    return dict(value)


def _check_metadata(value: dict[str, str]) -> None:
    if len(value) > 50:
        raise _invalid("metadata", "Invalid metadata: at most 50 keys")
    for key, item in value.items():
        if len(key) > 40:
            raise _invalid(f"metadata[{key}]", "Invalid metadata: keys must be at most 40 characters")
        if len(item) > 500:
            raise _invalid(f"metadata[{key}]", "Invalid metadata: values must be at most 500 characters")


def stripe_error(exc: ServiceError) -> ServiceError:
    """Re-name a domain error's JSON-API field (and its mention in the message) as a Stripe param."""
    param = _FIELD_TO_PARAM.get(exc.field or "", exc.field)
    message = exc.message
    if exc.field and param != exc.field:
        message = re.sub(rf"\b{re.escape(exc.field)}\b", param, message)
    return type(exc)(message, field=param)


def _model(cls: type, values: dict[str, Any]):
    """Validate a JSON-API model, reporting the first error under its Stripe param."""
    try:
        return cls(**values)
    except ValidationError as exc:
        error = exc.errors()[0]
        loc = [str(p) for p in error.get("loc", ())]
        field = loc[0] if loc else ""
        param = _FIELD_TO_PARAM.get(field, field)
        if field == "metadata" and len(loc) > 1:
            param = f"metadata[{loc[1]}]"
        if field == "applicability":
            param = "applicability_config[scope]"
        raise _invalid(param, f"Invalid {param}: {error.get('msg', 'invalid value')}") from None


# ====================================================================== create / update


_CREATE_PARAMS = ("customer", "name", "amount", "applicability_config", "category", "priority",
                  "effective_at", "expires_at", "metadata", "expand")


def _amount(params: dict[str, Any]) -> tuple[str, str]:
    """amount[type]=monetary, amount[monetary][currency|value] -> (CURRENCY, decimal string)."""
    amount = _object(params, "amount", "amount", required=True)
    reject_unknown(amount, ("type", "monetary"), "amount")
    kind = string_param(amount, "type", "amount[type]", required=True)
    if kind != "monetary":
        raise _invalid("amount[type]", f"Invalid amount[type]: must be monetary (got {kind[:40]!r})")
    monetary = _object(amount, "monetary", "amount[monetary]", required=True)
    reject_unknown(monetary, ("currency", "value"), "amount[monetary]")
    code = string_param(monetary, "currency", "amount[monetary][currency]", required=True)
    currency = code.upper()
    if not money.is_supported_currency(currency):
        raise _invalid("amount[monetary][currency]", f"Invalid currency: {code[:10]}")
    value = string_param(monetary, "value", "amount[monetary][value]", required=True)
    if value == "":
        raise _missing("amount[monetary][value]")
    minor = parse_int(value, "amount[monetary][value]", low=1, high=10**12 * 10 ** money.currency_places(currency))
    major = money.from_minor_units(minor, currency)
    if major > money.MAX_AMOUNT:
        raise _invalid("amount[monetary][value]", "Invalid amount[monetary][value]: too large")
    return currency, money.format_money(major, currency)


def _scope(scope: dict[str, Any], base: str) -> dict[str, list[str]] | None:
    """A `scope`: price_type=metered (every line: None) or a list of price / billable item ids.
    `base` is the scope's own bracket param, to name errors under."""
    reject_unknown(scope, ("price_type", "prices", "billable_items"), base)
    given = [k for k in ("price_type", "prices", "billable_items") if k in scope]
    if len(given) != 1:
        raise _invalid(base, f"Give exactly one of {base}[price_type], {base}[prices] or {base}[billable_items]")
    if given[0] == "price_type":
        param = f"{base}[price_type]"
        if string_param(scope, "price_type", param) != "metered":
            raise _invalid(param, f"Invalid {param}: must be metered")
        return None
    param = f"{base}[{given[0]}]"
    items = scope[given[0]]
    if not isinstance(items, list) or not items:
        raise _invalid(param, f"Invalid {param}: must be a list like {param}[0][id]=...")
    if len(items) > 100:
        raise _invalid(param, f"Invalid {param}: at most 100 items")
    ids = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise _invalid(f"{param}[{i}]", f"Invalid {param}[{i}]: must be an object with an id")
        reject_unknown(item, ("id",), f"{param}[{i}]")
        ids.append(parse_id(string_param(item, "id", f"{param}[{i}][id]"), f"{param}[{i}][id]", required=True))
    return {"metricIds": ids}


def _applicability(params: dict[str, Any]) -> dict[str, list[str]] | None:
    config = _object(params, "applicability_config", "applicability_config", required=True)
    reject_unknown(config, ("scope",), "applicability_config")
    scope = _object(config, "scope", "applicability_config[scope]", required=True)
    return _scope(scope, "applicability_config[scope]")


def create_request(params: dict[str, Any]) -> CreateGrantRequest:
    """POST /v1/billing/credit_grants params -> the JSON API's CreateGrantRequest (a CASH grant)."""
    reject_unknown(params, _CREATE_PARAMS)
    customer = parse_id(string_param(params, "customer"), "customer", required=True)
    name = _no_empty(string_param(params, "name"), "name")
    if name is not None and len(name) > 100:
        raise _invalid("name", "Invalid name: must be at most 100 characters")
    currency, amount = _amount(params)
    applicability = _applicability(params)
    category = _no_empty(string_param(params, "category"), "category")
    if category is not None and category not in ("paid", "promotional"):
        raise _invalid("category", f"Invalid category: must be one of paid, promotional (got {category[:40]!r})")
    priority = parse_int(_no_empty(string_param(params, "priority"), "priority"), "priority", low=0, high=100)
    effective_at = parse_unix(_no_empty(string_param(params, "effective_at"), "effective_at"), "effective_at")
    expires_at = parse_unix(_no_empty(string_param(params, "expires_at"), "expires_at"), "expires_at")
    # On create an empty metadata value means "no such key" (nothing to delete yet).
    metadata = {k: v for k, v in (_metadata(params.get("metadata")) or {}).items() if v != ""}
    _check_metadata(metadata)
    values: dict[str, Any] = {
        "customerId": customer, "name": name or DEFAULT_NAME, "type": "CASH", "amount": amount,
        "currency": currency, "category": (category or "paid").upper(), "metadata": metadata,
        "applicability": applicability, "effectiveAt": effective_at, "expiresAt": expires_at,
    }
    if priority is not None:
        values["priority"] = priority
    return _model(CreateGrantRequest, values)


def update_request(params: dict[str, Any], grant: GrantRecord) -> UpdateGrantRequest:
    """POST /v1/billing/credit_grants/{id}: `expires_at` ("" = never) and `metadata` (merged into
    the grant's; an empty value deletes that key; `metadata=` clears them all), as Stripe does."""
    reject_unknown(params, ("expires_at", "metadata", "expand"))
    values: dict[str, Any] = {}
    if "expires_at" in params:
        raw = string_param(params, "expires_at")
        values["expiresAt"] = None if raw == "" else parse_unix(raw, "expires_at")
    if "metadata" in params:
        given = _metadata(params["metadata"])
        merged = {} if given == {} and params["metadata"] == "" else dict(grant.metadata)
        for key, value in (given or {}).items():
            if value == "":
                merged.pop(key, None)
            else:
                merged[key] = value
        _check_metadata(merged)
        values["metadata"] = merged
    return _model(UpdateGrantRequest, values)


# ====================================================================== objects


def _monetary(value: Decimal, currency: str) -> dict[str, Any]:
    return {"monetary": {"currency": currency.lower(), "value": money.to_minor_units(value, currency)},
            "type": "monetary"}


def is_visible(grant: GrantRecord | None) -> bool:
    """Only CASH grants exist in Stripe's view."""
    return grant is not None and grant.type == "CASH" and grant.currency is not None


def require_visible(grant: GrantRecord | None, grant_id: str, param: str = "id") -> GrantRecord:
    if not is_visible(grant):
        raise NotFound(f"No such credit grant: '{grant_id}'", field=param)
    return grant  # type: ignore[return-value]


def grant_object(grant: GrantRecord, *, livemode: bool) -> dict[str, Any]:
    """GrantRecord -> `billing.credit_grant`."""
    assert grant.currency is not None
    if grant.applicable_metric_ids is None:
        scope: dict[str, Any] = {"price_type": "metered"}
    else:
        scope = {"prices": [{"id": metric} for metric in grant.applicable_metric_ids]}
    return {
        "id": grant.id,
        "object": "billing.credit_grant",
        "amount": _monetary(grant.original_amount, grant.currency),
        "applicability_config": {"scope": scope},
        "category": grant.category.lower(),
        "created": to_unix(grant.created_at),
        "customer": grant.customer_id,
        "customer_account": None,
        "effective_at": to_unix(grant.effective_at),
        "expires_at": to_unix(grant.expires_at),
        "livemode": livemode,
        "metadata": dict(grant.metadata),
        "name": grant.name,
        "priority": grant.priority,
        "test_clock": grant.test_clock_id,
        "updated": to_unix(grant.updated_at),
        "voided_at": to_unix(grant.voided_at),
    }


def shows_entry(entry: LedgerRecord) -> bool:
    return entry.type in VISIBLE_ENTRY_TYPES and entry.amount > ZERO


def transaction_object(entry: LedgerRecord, grant: GrantRecord, *, livemode: bool) -> dict[str, Any]:
    """A balance-moving ledger entry of a CASH grant -> `billing.credit_balance_transaction`."""
    assert grant.currency is not None and shows_entry(entry)
    amount = _monetary(entry.amount, grant.currency)
    credit = debit = None
    invoice = {"invoice": entry.invoice_id, "invoice_line_item": entry.line_id}
    if entry.type in _CREDIT_TYPES:
        released = invoice if entry.type == "RELEASED" else None
        credit = {"amount": amount, "credits_application_invoice_voided": released, "type": _CREDIT_TYPES[entry.type]}
    else:
        applied = invoice if entry.type == "APPLIED" else None
        debit = {"amount": amount, "credits_applied": applied, "type": _DEBIT_TYPES[entry.type]}
    # A grant's credits take effect when the grant does; every other movement when it is written.
    effective = max(grant.effective_at, entry.created_at) if entry.type == "GRANTED" else entry.created_at
    return {
        "id": entry.id,
        "object": "billing.credit_balance_transaction",
        "created": to_unix(entry.created_at),
        "credit": credit,
        "credit_grant": entry.grant_id,
        "debit": debit,
        "effective_at": to_unix(effective),
        "livemode": livemode,
        "test_clock": grant.test_clock_id,
        "type": "credit" if credit is not None else "debit",
    }


def list_object(data: list[dict[str, Any]], has_more: bool, url: str) -> dict[str, Any]:
    return {"object": "list", "data": data, "has_more": has_more, "url": url}


# ====================================================================== lists


def list_params(params: dict[str, Any], allowed: Iterable[str]) -> tuple[int, str | None, str | None]:
    """limit (1-100, default 10), starting_after / ending_before (ids, not both)."""
    reject_unknown(params, (*allowed, "limit", "starting_after", "ending_before", "expand"))
    limit = parse_int(string_param(params, "limit") or None, "limit", low=1, high=100) or 10
    after = parse_id(string_param(params, "starting_after"), "starting_after")
    before = parse_id(string_param(params, "ending_before"), "ending_before")
    if after and before:
        raise _invalid("ending_before", "Give starting_after or ending_before, not both")
    return limit, after, before


# ====================================================================== balance summary


def summary_filter(params: dict[str, Any]) -> tuple[str | None, Callable[[GrantRecord], bool]]:
    """`filter[...]` -> (credit grant id to look up or None, predicate on CASH grants).

    filter[type]=credit_grant + filter[credit_grant]=id: that grant only;
    filter[type]=applicability_scope + [applicability_scope][price_type]=metered: every grant;
    ... + [applicability_scope][prices][i][id]: grants that may pay for any of those ids
    (a grant with no applicability restriction pays for every price). No filter: every grant."""
    spec = _object(params, "filter", "filter")
    if spec is None:
        return None, lambda grant: True
    reject_unknown(spec, ("type", "credit_grant", "applicability_scope"), "filter")
    kind = string_param(spec, "type", "filter[type]", required=True)
    if kind == "credit_grant":
        grant_id = parse_id(string_param(spec, "credit_grant", "filter[credit_grant]"), "filter[credit_grant]",
                            required=True)
        if "applicability_scope" in spec:
            raise _invalid("filter[applicability_scope]",
                           "filter[applicability_scope] is only for filter[type]=applicability_scope")
        return grant_id, lambda grant: grant.id == grant_id
    if kind != "applicability_scope":
        raise _invalid("filter[type]", "Invalid filter[type]: must be one of applicability_scope, credit_grant")
    if "credit_grant" in spec:
        raise _invalid("filter[credit_grant]", "filter[credit_grant] is only for filter[type]=credit_grant")
    scope = _scope(_object(spec, "applicability_scope", "filter[applicability_scope]", required=True),
                   "filter[applicability_scope]")
    if scope is None:
        return None, lambda grant: True
    wanted = set(scope["metricIds"])
    return None, lambda grant: grant.applicable_metric_ids is None or bool(wanted & set(grant.applicable_metric_ids))


def summary_object(customer: str, grants: Iterable[GrantRecord], now: datetime, *, livemode: bool) -> dict[str, Any]:
    """`billing.credit_balance_summary` over CASH grants, one balance per currency.

    available = balances usable now; ledger = available plus balances of effective, unvoided
    grants past their expiry whose EXPIRED entry is not written yet (still on the ledger)."""
    sums: dict[str, list[Decimal]] = {}
    for grant in grants:
        if not is_visible(grant) or grant.voided_at is not None or grant.effective_at > now:
            continue
        status = grant.status_at(now)
        if status in ("ACTIVE", "DEPLETED"):
            row = sums.setdefault(grant.currency, [ZERO, ZERO])
            row[0] += grant.current_balance
            row[1] += grant.current_balance
        elif status == "EXPIRED" and grant.expired_at is None:
            sums.setdefault(grant.currency, [ZERO, ZERO])[1] += grant.current_balance
    return {
        "object": "billing.credit_balance_summary",
        "balances": [{"available_balance": _monetary(available, currency),
                      "ledger_balance": _monetary(ledger, currency)}
                     for currency, (available, ledger) in sorted(sums.items())],
        "customer": customer,
        "customer_account": None,
        "livemode": livemode,
    }
