"""domain/access.py: the scope each request needs, what each scope allows, and reading the key
out of an Authorization header (Bearer or Basic) without ever raising."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from credits.domain.access import allows, api_key_from_header, api_key_from_headers, required_scope
from credits.domain.actors import acting_as, carrying_actor, command_actor, current_actor, system_actor


@pytest.mark.parametrize(("method", "resource", "needed"), [
    ("GET", "/credit-grants", "read"), ("GET", "/v1/billing/credit_grants/{id}", "read"),
    ("POST", "/credit-applications/preview", "read"), ("POST", "/credit-grants", "write"),
    ("DELETE", "/credit-grants/{grantId}", "write"), ("POST", "/v1/billing/credit_grants/{id}/void", "write"),
    ("GET", "/api-keys", "admin"), ("GET", "/api-keys/{keyId}", "admin"), ("POST", "/api-keys/{keyId}/revoke", "admin"),
    ("GET", "/api-keys/current", "read"), ("GET", "/audit-events", "read"), ("PATCH", "/tax-rates/{taxRateId}", "write"),
])
def test_the_scope_each_route_needs(method, resource, needed):
    assert required_scope(method, resource) == needed


def test_scopes_nest_and_unknown_scopes_allow_nothing():
    assert allows("admin", "admin") and allows("admin", "write") and allows("write", "read")
    assert not allows("read", "write") and not allows("write", "admin")
    assert not allows("superuser", "read") and not allows(None, "read")


def _basic(raw: bytes) -> str:
    return "Basic " + base64.b64encode(raw).decode()


def test_bearer_and_basic_give_the_same_key():
    assert api_key_from_header("Bearer sk_1") == api_key_from_header(_basic(b"sk_1:")) == "sk_1"
    assert api_key_from_header("bearer   sk_1 ") == "sk_1"
    assert api_key_from_header(_basic(b"sk_1")) == "sk_1"  # no colon: no password
    assert api_key_from_headers({"authorization": _basic(b"sk_2:")}) == "sk_2"
    for bad in (None, "", "Bearer", "Basic", "Basic !!", _basic(b"sk_1:pw"), _basic(b":"), _basic(b"\xff:"),
                "Digest x", "sk_1", "Basic a2V5X2E"):
        assert api_key_from_header(bad) is None, bad


@given(st.text(max_size=200))
def test_no_header_value_raises(value):
    assert api_key_from_header(value) is None or isinstance(api_key_from_header(value), str)


def test_the_current_actor_is_scoped_and_carried_into_threads():
    from concurrent.futures import ThreadPoolExecutor

    assert current_actor() is None
    with acting_as(system_actor("expiry")):
        with acting_as(command_actor("billing", "evt-1")):
            assert current_actor() == {"type": "command", "source": "billing", "eventId": "evt-1"}
        assert current_actor() == {"type": "system", "job": "expiry"}
        with ThreadPoolExecutor(2) as pool:
            assert list(pool.map(carrying_actor(lambda _: current_actor()), range(2))) == [
                {"type": "system", "job": "expiry"}] * 2
            assert list(pool.map(lambda _: current_actor(), range(2))) == [None, None]
    assert current_actor() is None
