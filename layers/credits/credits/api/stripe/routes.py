"""The Stripe-compatible routes (`/v1/billing/...`), as three Powertools routers, one per function
that serves them (template.yaml): GrantFunction, ListFunction, VoidFunction.

Bodies are form-encoded with bracket keys, so no route declares a Body(): the resolver would
try to validate them as JSON. Bodies and query strings go through `formbody.parse_form`, then
`stripe_view` maps them to the JSON API's models; errors on /v1 already take Stripe's envelope
(api.make_resolver)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar
from urllib.parse import urlencode

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Path

from credits.api.resolver import account_id, request_key
from credits.api.stripe import view
from credits.api.stripe.formbody import FormError, parse_form
from credits.container import grant_service, stripe_queries
from credits.domain.errors import Conflict, InvalidRequest, NotFound, ServiceError
from credits.domain.records import GrantRecord
from credits.settings import get_settings

T = TypeVar("T")

grant_router = Router()
list_router = Router()
void_router = Router()

GrantId = Annotated[str, Path()]


# ====================================================================== helpers


def _form(router: Router) -> dict[str, Any]:
    try:
        return parse_form(router.current_event.body)
    except FormError as exc:
        raise InvalidRequest(exc.message, field=exc.param or None) from None


def _query(router: Router) -> dict[str, Any]:
    """Query params with bracket keys; repeated keys come from the multi-value map."""
    raw = router.current_event.raw_event
    multi = raw.get("multiValueQueryStringParameters") or {}
    pairs = [(k, v) for k, values in multi.items() for v in (values or [])]
    if not pairs:
        pairs = list((raw.get("queryStringParameters") or {}).items())
    try:
        return parse_form(urlencode(pairs))
    except FormError as exc:
        raise InvalidRequest(exc.message, field=exc.param or None) from None


def _livemode() -> bool:
    return get_settings().livemode


def _stripe_errors(action: Callable[[], T]) -> T:
    """Run a domain use case, naming its errors as Stripe would: JSON-API fields become Stripe
    params, and a refused state change is a 400 invalid_request_error (Stripe's 409 is only
    for idempotency)."""
    try:
        return action()
    except Conflict as exc:
        raise InvalidRequest(exc.message) from None
    except ServiceError as exc:
        raise view.stripe_error(exc) from None


def _cash_grant(account: str, grant_id: str, param: str = "id") -> GrantRecord:
    return view.require_visible(stripe_queries().grant(account, grant_id), grant_id, param)


def _grant_response(grant: GrantRecord) -> dict[str, Any]:
    return view.grant_object(grant, livemode=_livemode())


# ====================================================================== GrantFunction


@grant_router.post("/v1/billing/credit_grants", summary="Stripe: create a credit grant")
def stripe_create_grant() -> dict[str, Any]:
    body = view.create_request(_form(grant_router))
    account = account_id(grant_router)
    key = request_key(grant_router)
    return _grant_response(_stripe_errors(lambda: grant_service().create(account, body, request_key=key)))


@grant_router.post("/v1/billing/credit_grants/<id>", summary="Stripe: update a credit grant's expiry or metadata")
def stripe_update_grant(id: GrantId) -> dict[str, Any]:  # noqa: A002 - Stripe's path param name
    params = _form(grant_router)
    account = account_id(grant_router)
    grant = _cash_grant(account, id)
    body = view.update_request(params, grant)
    return _grant_response(_stripe_errors(lambda: grant_service().patch(account, id, body)))


# ====================================================================== VoidFunction


@void_router.post("/v1/billing/credit_grants/<id>/void", summary="Stripe: void a credit grant")
def stripe_void_grant(id: GrantId) -> dict[str, Any]:  # noqa: A002
    _no_params(_form(void_router))
    account = account_id(void_router)
    _cash_grant(account, id)
    return _grant_response(_stripe_errors(lambda: grant_service().void(account, id, "voided via API")))


@void_router.post("/v1/billing/credit_grants/<id>/expire", summary="Stripe: expire a credit grant now")
def stripe_expire_grant(id: GrantId) -> dict[str, Any]:  # noqa: A002
    _no_params(_form(void_router))
    account = account_id(void_router)
    _cash_grant(account, id)
    return _grant_response(_stripe_errors(lambda: grant_service().expire_now(account, id)))


def _no_params(params: dict[str, Any]) -> None:
    for key in params:
        if key != "expand":
            raise InvalidRequest(f"Received unknown parameter: {key}", field=key)


# ====================================================================== ListFunction


@list_router.get("/v1/billing/credit_grants", summary="Stripe: list credit grants, newest first")
def stripe_list_grants() -> dict[str, Any]:
    params = _query(list_router)
    limit, after, before = view.list_params(params, ("customer",))
    customer = view.parse_id(view.string_param(params, "customer"), "customer")
    grants, more = stripe_queries().cash_grants(account_id(list_router), customer, limit=limit,
                                                starting_after=after, ending_before=before)
    return view.list_object([_grant_response(g) for g in grants], more, view.GRANTS_URL)


@list_router.get("/v1/billing/credit_grants/<id>", summary="Stripe: retrieve a credit grant")
def stripe_get_grant(id: GrantId) -> dict[str, Any]:  # noqa: A002
    _no_params(_query(list_router))
    return _grant_response(_cash_grant(account_id(list_router), id))


@list_router.get("/v1/billing/credit_balance_summary", summary="Stripe: a customer's credit balance summary")
def stripe_balance_summary() -> dict[str, Any]:
    params = _query(list_router)
    view.reject_unknown(params, ("customer", "filter", "expand"))
    customer = view.parse_id(view.string_param(params, "customer"), "customer", required=True)
    grant_id, keep = view.summary_filter(params)
    account = account_id(list_router)
    grants = stripe_queries().customer_grants(account, customer)
    if grant_id is not None and not any(g.id == grant_id and view.is_visible(g) for g in grants):
        raise NotFound(f"No such credit grant: '{grant_id}'", field="filter[credit_grant]")
    now = stripe_queries().now_for(account, customer)
    return view.summary_object(customer, [g for g in grants if keep(g)], now, livemode=_livemode())


@list_router.get("/v1/billing/credit_balance_transactions", summary="Stripe: list credit balance transactions")
def stripe_list_transactions() -> dict[str, Any]:
    params = _query(list_router)
    limit, after, before = view.list_params(params, ("customer", "credit_grant"))
    customer = view.parse_id(view.string_param(params, "customer"), "customer", required=True)
    grant_id = view.parse_id(view.string_param(params, "credit_grant"), "credit_grant")
    account = account_id(list_router)
    # Entries are shown only for the customer's CASH grants (USAGE and deleted grants have none here).
    grants = {g.id: g for g in stripe_queries().customer_grants(account, customer) if view.is_visible(g)}
    if grant_id is not None:
        if grant_id not in grants:
            raise NotFound(f"No such credit grant: '{grant_id}'", field="credit_grant")
        grants = {grant_id: grants[grant_id]}
    entries, more = stripe_queries().balance_entries(account, customer, types=view.VISIBLE_ENTRY_TYPES,
                                                     grant_ids=set(grants), limit=limit, starting_after=after,
                                                     ending_before=before)
    data = [view.transaction_object(e, grants[e.grant_id], livemode=_livemode()) for e in entries]
    return view.list_object(data, more, view.TRANSACTIONS_URL)


@list_router.get("/v1/billing/credit_balance_transactions/<id>",
                 summary="Stripe: retrieve a credit balance transaction")
def stripe_get_transaction(id: GrantId) -> dict[str, Any]:  # noqa: A002
    _no_params(_query(list_router))
    account = account_id(list_router)
    missing = NotFound(f"No such credit balance transaction: '{id}'", field="id")
    entry = stripe_queries().entry(account, id) if id.startswith("cbtxn_") else None
    if entry is None or not view.shows_entry(entry):
        raise missing
    grant = stripe_queries().customer_grant(account, entry.customer_id, entry.grant_id)
    if not view.is_visible(grant):
        raise missing
    return view.transaction_object(entry, grant, livemode=_livemode())
