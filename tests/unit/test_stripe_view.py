"""stripe_view: Stripe params -> the JSON API's models, records -> Stripe's billing objects."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from credits.api.stripe import view as view
from credits.api.stripe.formbody import parse_form
from credits.domain import money
from credits.domain.errors import InvalidRequest, NotFound
from credits.domain.grant_rules import build_grant
from credits.domain.records import LedgerRecord

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
T0 = int(NOW.timestamp())

BASE = ("customer=cus_1&amount[type]=monetary&amount[monetary][currency]=usd&amount[monetary][value]=1000"
        "&applicability_config[scope][price_type]=metered")


def create(query: str):
    return view.create_request(parse_form(query))


def error_param(query: str) -> str | None:
    with pytest.raises(InvalidRequest) as info:
        create(query)
    return info.value.field


def grant_from(query: str, now: datetime = NOW):
    return build_grant("acct_a", create(query), now)


# ------------------------------------------------------------------ create params


def test_minimal_create_maps_to_a_cash_grant_with_defaults():
    body = create(BASE)
    assert body.customerId == "cus_1" and body.type == "CASH"
    assert body.currency == "USD" and body.amount == "10.00"
    assert body.name == view.DEFAULT_NAME and body.category == "PAID" and body.priority == 50
    assert body.applicability is None and body.metadata == {}
    assert body.effectiveAt is None and body.expiresAt is None


def test_create_with_every_option():
    query = ("customer=cus_9&name=Purchased+Credits&amount[type]=monetary&amount[monetary][currency]=EUR"
             "&amount[monetary][value]=1250&applicability_config[scope][prices][0][id]=price_a"
             "&applicability_config[scope][prices][1][id]=price_b&category=promotional&priority=7"
             f"&effective_at={T0 + 60}&expires_at={T0 + 3600}&metadata[k]=v&metadata[empty]=")
    body = create(query)
    assert body.name == "Purchased Credits" and body.currency == "EUR" and body.amount == "12.50"
    assert body.applicability.metricIds == ["price_a", "price_b"]
    assert body.category == "PROMOTIONAL" and body.priority == 7
    assert body.metadata == {"k": "v"}  # an empty value on create sets nothing
    grant = build_grant("acct_a", body, NOW)
    assert grant.effective_at == NOW + timedelta(seconds=60)
    assert grant.expires_at == NOW + timedelta(seconds=3600)
    assert grant.cost_of_credit == 0  # promotional credits are free


def test_billable_items_become_metric_ids():
    body = create(BASE.replace("[price_type]=metered", "[billable_items][0][id]=bi_1"))
    assert body.applicability.metricIds == ["bi_1"]


@pytest.mark.parametrize("currency", sorted(money.CURRENCY_DIGITS))
def test_minor_units_for_every_supported_currency(currency):
    digits = money.CURRENCY_DIGITS[currency]
    body = create(BASE.replace("currency]=usd", f"currency]={currency.lower()}").replace("value]=1000", "value]=12345"))
    assert body.currency == currency
    assert Decimal(body.amount) == Decimal(12345).scaleb(-digits)
    grant = build_grant("acct_a", body, NOW)
    assert view.grant_object(grant, livemode=False)["amount"] == {
        "monetary": {"currency": currency.lower(), "value": 12345}, "type": "monetary"}


@pytest.mark.parametrize(("query", "param"), [
    (BASE.replace("customer=cus_1&", ""), "customer"),
    (BASE.replace("customer=cus_1", "customer=bad#id"), "customer"),
    (BASE.replace("customer=cus_1", "customer[x]=1"), "customer"),
    (BASE.replace("amount[monetary][value]=1000", ""), "amount[monetary][value]"),
    (BASE.replace("amount[monetary][value]=1000", "amount[monetary][value]="), "amount[monetary][value]"),
    (BASE.replace("value]=1000", "value]=0"), "amount[monetary][value]"),
    (BASE.replace("value]=1000", "value]=-5"), "amount[monetary][value]"),
    (BASE.replace("value]=1000", "value]=10.5"), "amount[monetary][value]"),
    (BASE.replace("value]=1000", "value]=1e3"), "amount[monetary][value]"),
    (BASE.replace("value]=1000", "value]=100000000000001"), "amount[monetary][value]"),
    (BASE.replace("currency]=usd", "currency]=xxx"), "amount[monetary][currency]"),
    (BASE.replace("amount[monetary][currency]=usd&", ""), "amount[monetary][currency]"),
    (BASE.replace("amount[type]=monetary&", ""), "amount[type]"),
    (BASE.replace("amount[type]=monetary", "amount[type]=custom_pricing_unit"), "amount[type]"),
    (BASE + "&amount[monetary][extra]=1", "amount[monetary][extra]"),
    ("customer=cus_1&applicability_config[scope][price_type]=metered", "amount"),
    (BASE.replace("&applicability_config[scope][price_type]=metered", ""), "applicability_config"),
    (BASE.replace("[price_type]=metered", "[price_type]=licensed"), "applicability_config[scope][price_type]"),
    (BASE + "&applicability_config[scope][prices][0][id]=p", "applicability_config[scope]"),
    (BASE.replace("[price_type]=metered", "[prices][0][id]=bad id"), "applicability_config[scope][prices][0][id]"),
    (BASE.replace("[price_type]=metered", "[prices][0][name]=x"), "applicability_config[scope][prices][0][name]"),
    (BASE.replace("[price_type]=metered", "[prices]=x"), "applicability_config[scope][prices]"),
    (BASE + "&category=gift", "category"),
    (BASE + "&priority=101", "priority"),
    (BASE + "&priority=high", "priority"),
    (BASE + "&priority=", "priority"),
    (BASE + "&name=", "name"),
    (BASE + "&name=" + "x" * 101, "name"),
    (BASE + "&effective_at=soon", "effective_at"),
    (BASE + "&expires_at=-1", "expires_at"),
    (BASE + "&metadata[" + "k" * 41 + "]=v", "metadata[" + "k" * 41 + "]"),
    (BASE + "&metadata[k]=" + "v" * 501, "metadata[k]"),
    (BASE + "&metadata[k][deep]=v", "metadata[k]"),
    (BASE + "&metadata=x", "metadata"),
    (BASE + "&unknown=1", "unknown"),
    (BASE + "&customer_account=acct_x", "customer_account"),
])
def test_every_bad_create_param_is_named(query, param):
    assert error_param(query) == param


def test_too_many_metadata_keys():
    query = BASE + "".join(f"&metadata[k{i}]=v" for i in range(51))
    assert error_param(query) == "metadata"


def test_domain_errors_are_renamed_to_stripe_params():
    from credits.domain.grant_rules import build_grant as build

    with pytest.raises(InvalidRequest) as info:
        build("acct_a", create(BASE + f"&expires_at={T0 - 10}"), NOW)
    renamed = view.stripe_error(info.value)
    assert renamed.field == "expires_at" and "expires_at" in renamed.message and "expiresAt" not in renamed.message


# ------------------------------------------------------------------ update params


def test_update_merges_and_deletes_metadata_and_sets_expiry():
    grant = replace(grant_from(BASE + "&metadata[a]=1&metadata[b]=2"), metadata={"a": "1", "b": "2"})
    body = view.update_request(parse_form(f"metadata[b]=&metadata[c]=3&expires_at={T0 + 99}"), grant)
    assert body.metadata == {"a": "1", "c": "3"}
    assert body.expiresAt == NOW + timedelta(seconds=99)
    assert body.model_fields_set == {"metadata", "expiresAt"}


def test_update_empty_expiry_means_never_and_empty_metadata_clears():
    grant = replace(grant_from(BASE), metadata={"a": "1"})
    body = view.update_request(parse_form("expires_at=&metadata="), grant)
    assert body.expiresAt is None and "expiresAt" in body.model_fields_set
    assert body.metadata == {}


def test_update_with_nothing_changes_nothing():
    body = view.update_request({}, grant_from(BASE))
    assert body.model_fields_set == set()


@pytest.mark.parametrize(("query", "param"), [
    ("expires_at=tomorrow", "expires_at"),
    ("name=x", "name"),
    ("metadata[" + "k" * 41 + "]=v", "metadata[" + "k" * 41 + "]"),
])
def test_bad_update_params_are_named(query, param):
    with pytest.raises(InvalidRequest) as info:
        view.update_request(parse_form(query), grant_from(BASE))
    assert info.value.field == param


# ------------------------------------------------------------------ objects


def test_grant_object_has_exactly_stripes_fields():
    grant = grant_from(BASE + "&name=Purchased+Credits&metadata[k]=v")
    obj = view.grant_object(grant, livemode=False)
    assert obj == {
        "id": grant.id, "object": "billing.credit_grant",
        "amount": {"monetary": {"currency": "usd", "value": 1000}, "type": "monetary"},
        "applicability_config": {"scope": {"price_type": "metered"}}, "category": "paid",
        "created": T0, "customer": "cus_1", "customer_account": None, "effective_at": T0, "expires_at": None, "livemode": False,
        "metadata": {"k": "v"}, "name": "Purchased Credits", "priority": 50, "test_clock": None,
        "updated": T0, "voided_at": None,
    }
    assert grant.id.startswith("cg_")


def test_grant_object_prices_voided_and_livemode():
    grant = grant_from(BASE.replace("[price_type]=metered", "[prices][0][id]=p1") + f"&expires_at={T0 + 100}")
    voided = grant.evolve(voided_at=NOW + timedelta(seconds=5))
    obj = view.grant_object(voided, livemode=True)
    assert obj["applicability_config"] == {"scope": {"prices": [{"id": "p1"}]}}
    assert obj["voided_at"] == T0 + 5 and obj["expires_at"] == T0 + 100 and obj["livemode"] is True


def test_usage_grants_are_not_visible():
    from credits.models.api import CreateGrantRequest

    usage = build_grant("acct_a", CreateGrantRequest(customerId="c", name="n", type="USAGE", amount="10",
                                                     metricId="api"), NOW)
    assert not view.is_visible(usage)
    with pytest.raises(NotFound) as info:
        view.require_visible(usage, usage.id)
    assert info.value.field == "id"


def _entry(grant, type_, amount, **extra):
    return LedgerRecord(id="cbtxn_01", account_id="acct_a", customer_id=grant.customer_id, grant_id=grant.id,
                        type=type_, amount=Decimal(amount), balance_after=Decimal(0),
                        created_at=NOW + timedelta(seconds=30), **extra)


@pytest.mark.parametrize(("type_", "kind", "stripe_type"), [
    ("GRANTED", "credit", "credits_granted"),
    ("RELEASED", "credit", "credits_application_invoice_voided"),
    ("APPLIED", "debit", "credits_applied"),
    ("EXPIRED", "debit", "credits_expired"),
    ("VOIDED", "debit", "credits_voided"),
])
def test_transaction_objects(type_, kind, stripe_type):
    grant = grant_from(BASE.replace("currency]=usd", "currency]=jpy"))
    entry = _entry(grant, type_, "500", invoice_id="inv_1" if type_ in ("APPLIED", "RELEASED") else None,
                   line_id="l1" if type_ in ("APPLIED", "RELEASED") else None)
    assert view.shows_entry(entry)
    obj = view.transaction_object(entry, grant, livemode=False)
    other = "debit" if kind == "credit" else "credit"
    assert obj["type"] == kind and obj[other] is None
    assert obj[kind]["type"] == stripe_type
    assert obj[kind]["amount"] == {"monetary": {"currency": "jpy", "value": 500}, "type": "monetary"}
    assert obj["id"] == "cbtxn_01" and obj["object"] == "billing.credit_balance_transaction"
    assert obj["credit_grant"] == grant.id and obj["created"] == T0 + 30
    assert obj["livemode"] is False and obj["test_clock"] is None
    if type_ == "APPLIED":
        assert obj["debit"]["credits_applied"] == {"invoice": "inv_1", "invoice_line_item": "l1"}
    elif kind == "debit":
        assert obj["debit"]["credits_applied"] is None


@pytest.mark.parametrize("type_", ["SETTLED", "EXPIRY_CHANGED", "DELETED"])
def test_entries_that_move_nothing_are_not_shown(type_):
    assert not view.shows_entry(_entry(grant_from(BASE), type_, "5"))


def test_zero_amount_entries_are_not_shown():
    assert not view.shows_entry(_entry(grant_from(BASE), "VOIDED", "0"))


# ------------------------------------------------------------------ balance summary


def test_summary_available_and_ledger_balances():
    usd = grant_from(BASE)  # 10.00 usable
    expired_unwritten = grant_from(BASE.replace("value]=1000", "value]=300") + f"&expires_at={T0 + 10}")
    expired_written = expired_unwritten.evolve(id="cg_x", expired_at=NOW, current_balance=Decimal(0))
    voided = grant_from(BASE).evolve(voided_at=NOW, current_balance=Decimal(0))
    future = grant_from(BASE + f"&effective_at={T0 + 1000}")
    eur = grant_from(BASE.replace("currency]=usd", "currency]=eur").replace("value]=1000", "value]=5"))
    later = NOW + timedelta(seconds=20)
    obj = view.summary_object("cus_1", [usd, expired_unwritten, expired_written, voided, future, eur], later,
                              livemode=False)
    assert obj == {
        "object": "billing.credit_balance_summary", "customer": "cus_1", "customer_account": None, "livemode": False,
        "balances": [
            {"available_balance": {"monetary": {"currency": "eur", "value": 5}, "type": "monetary"},
             "ledger_balance": {"monetary": {"currency": "eur", "value": 5}, "type": "monetary"}},
            {"available_balance": {"monetary": {"currency": "usd", "value": 1000}, "type": "monetary"},
             "ledger_balance": {"monetary": {"currency": "usd", "value": 1300}, "type": "monetary"}},
        ],
    }


def test_summary_filters():
    metered = grant_from(BASE)
    p1 = grant_from(BASE.replace("[price_type]=metered", "[prices][0][id]=p1"))
    p2 = grant_from(BASE.replace("[price_type]=metered", "[prices][0][id]=p2"))
    grants = [metered, p1, p2]

    def kept(query):
        grant_id, keep = view.summary_filter(parse_form(query))
        return grant_id, [g for g in grants if keep(g)]

    assert kept("") == (None, grants)
    assert kept("filter[type]=applicability_scope&filter[applicability_scope][price_type]=metered") == (None, grants)
    scoped = "filter[type]=applicability_scope&filter[applicability_scope][prices][0][id]=p1"
    assert kept(scoped) == (None, [metered, p1])
    assert kept(f"filter[type]=credit_grant&filter[credit_grant]={p2.id}") == (p2.id, [p2])


@pytest.mark.parametrize(("query", "param"), [
    ("filter[type]=everything", "filter[type]"),
    ("filter[credit_grant]=cg_1", "filter[type]"),
    ("filter[type]=credit_grant", "filter[credit_grant]"),
    ("filter[type]=applicability_scope", "filter[applicability_scope]"),
    ("filter[type]=applicability_scope&filter[applicability_scope][price_type]=licensed",
     "filter[applicability_scope][price_type]"),
    ("filter[type]=applicability_scope&filter[applicability_scope][prices][0][id]=a b",
     "filter[applicability_scope][prices][0][id]"),
    ("filter[type]=credit_grant&filter[credit_grant]=cg_1&filter[x]=1", "filter[x]"),
])
def test_bad_summary_filters_are_named(query, param):
    with pytest.raises(InvalidRequest) as info:
        view.summary_filter(parse_form(query))
    assert info.value.field == param


# ------------------------------------------------------------------ list params


def test_list_params():
    assert view.list_params({}, ()) == (10, None, None)
    assert view.list_params(parse_form("limit=100&starting_after=cg_1"), ()) == (100, "cg_1", None)


@pytest.mark.parametrize(("query", "param"), [
    ("limit=0", "limit"), ("limit=101", "limit"), ("limit=ten", "limit"),
    ("starting_after=a b", "starting_after"), ("starting_after=cg_1&ending_before=cg_2", "ending_before"),
    ("colour=red", "colour"),
])
def test_bad_list_params_are_named(query, param):
    with pytest.raises(InvalidRequest) as info:
        view.list_params(parse_form(query), ())
    assert info.value.field == param
