"""Tests for the Stripe-style form parser, including a round trip through the SDK's encoder."""

from urllib.parse import urlencode

import pytest
from credits.api.stripe.formbody import MAX_DEPTH, FormError, flatten_param, parse_form
from hypothesis import given, settings
from hypothesis import strategies as st

try:  # the SDK's own encoder (stripe 16.x): what StripeClient puts on the wire
    from stripe._encode import _api_encode
except ImportError:  # pragma: no cover - SDK missing or reshuffled
    _api_encode = None


def err(body, **kw) -> FormError:
    with pytest.raises(FormError) as exc:
        parse_form(body, **kw)
    return exc.value


# --- nesting ---------------------------------------------------------------------------


def test_flat_and_nested():
    body = (
        "customer=cus_1&name=Promo&amount[type]=monetary"
        "&amount[monetary][currency]=usd&amount[monetary][value]=1000"
        "&applicability_config[scope][price_type]=metered"
    )
    assert parse_form(body) == {
        "customer": "cus_1",
        "name": "Promo",
        "amount": {"type": "monetary", "monetary": {"currency": "usd", "value": "1000"}},
        "applicability_config": {"scope": {"price_type": "metered"}},
    }


def test_bytes_and_empty_bodies():
    assert parse_form(b"a=1") == {"a": "1"}
    assert parse_form("") == {}
    assert parse_form(b"") == {}
    assert parse_form(None) == {}
    assert parse_form("&&a=1&") == {"a": "1"}


def test_query_string_params():
    assert parse_form("limit=3&starting_after=cg_1&filter[type]=credit_grant") == {
        "limit": "3",
        "starting_after": "cg_1",
        "filter": {"type": "credit_grant"},
    }


def test_bracket_keys_percent_encoded_as_sdk_sends_them():
    assert parse_form("amount%5Bmonetary%5D%5Bvalue%5D=1000") == {
        "amount": {"monetary": {"value": "1000"}}
    }


# --- arrays ----------------------------------------------------------------------------


def test_indexed_array_of_dicts_any_order():
    body = (
        "applicability_config[scope][prices][1][id]=p2"
        "&applicability_config[scope][prices][0][id]=p1"
    )
    assert parse_form(body) == {
        "applicability_config": {"scope": {"prices": [{"id": "p1"}, {"id": "p2"}]}}
    }


def test_indexed_array_of_scalars_and_nested_lists():
    assert parse_form("a[0]=x&a[1]=y") == {"a": ["x", "y"]}
    assert parse_form("a[0][0]=x&a[0][1]=y&a[1][0]=z") == {"a": [["x", "y"], ["z"]]}
    assert parse_form("a[10]=k&" + "&".join(f"a[{i}]={i}" for i in range(10))) == {
        "a": [str(i) for i in range(10)] + ["k"]
    }


def test_empty_bracket_array():
    assert parse_form("a[]=x&a[]=y&a[]=") == {"a": ["x", "y", ""]}
    assert parse_form("f[ids][]=1") == {"f": {"ids": ["1"]}}


def test_array_gap_is_error():
    e = err("a[0]=x&a[2]=y")
    assert e.param == "a[2]"
    assert err("a[1]=x").param == "a[1]"
    assert err("p[0][id]=x&p[5][id]=y").param == "p[5]"


def test_non_canonical_indices_are_named_keys():
    # "01"/"-1" are not indices, so this is an object, not a gapped array.
    assert parse_form("a[01]=x&a[-1]=y") == {"a": {"01": "x", "-1": "y"}}


def test_indices_mixed_with_names_is_error():
    assert err("a[0]=x&a[b]=y").param == "a"


def test_append_mixed_with_indexed_or_scalar_is_error():
    assert err("a[]=x&a[0]=y").param == "a"
    assert err("a[0]=y&a[]=x").param == "a"
    assert err("a=1&a[]=x").param == "a"
    assert err("a[]=x&a=1").param == "a"


def test_append_only_at_end():
    assert err("a[][b]=1").param == "a[][b]"


def test_metadata_numeric_keys_stay_a_dict():
    assert parse_form("metadata[2024]=x&metadata[0]=y") == {"metadata": {"2024": "x", "0": "y"}}
    assert err("metadata[2024]=x", mapping_keys=()).param == "metadata[2024]"
    assert err("metadata[]=x").param == "metadata[]"


# --- empty values, escapes -------------------------------------------------------------


def test_empty_values_kept():
    assert parse_form("expires_at=&metadata[k]=&metadata[j]=v") == {
        "expires_at": "",
        "metadata": {"k": "", "j": "v"},
    }
    assert parse_form("flag") == {"flag": ""}  # no "=": blank value, as parse_qsl does


def test_percent_escapes_and_plus():
    assert parse_form("name=Hello+World%21&metadata[a+b]=%E2%82%AC+5%2B1%3D6%26") == {
        "name": "Hello World!",
        "metadata": {"a b": "€ 5+1=6&"},
    }
    assert parse_form("name=caf%C3%A9") == {"name": "café"}
    assert parse_form("name=café".encode()) == {"name": "café"}
    assert parse_form("name=café") == {"name": "café"}


def test_booleans_stay_strings():
    assert parse_form("a=true&b=false") == {"a": "true", "b": "false"}


# --- errors ----------------------------------------------------------------------------


def test_repeated_key_is_error():
    e = err("name=a&name=b")
    assert e.param == "name"
    assert "more than once" in e.message
    e = err("amount[monetary][value]=1&amount[monetary][value]=2")
    assert e.param == "amount[monetary][value]"
    assert err("a[0]=1&a[0]=2").param == "a[0]"
    assert err("name=a&name=a").param == "name"  # even with the same value


@pytest.mark.parametrize("body", ["a[b]=1&a=2", "a=2&a[b]=1"])
def test_scalar_container_conflict_both_orders(body):
    assert err(body).param == "a"


def test_deep_conflict_names_prefix():
    assert err("a[b][c]=1&a[b]=2").param == "a[b]"
    assert err("a[b]=2&a[b][c]=1").param == "a[b]"
    assert err("a[b]=2&a[b][c][d]=1").param == "a[b]"


@pytest.mark.parametrize(
    "key", ["a[b", "a]b", "[x]", "a[b]c", "a[b][", "a[[b]]", "a[b]]", "]", "[", "[]"]
)
def test_malformed_keys(key):
    assert err(f"{key}=1").param == key


def test_empty_key():
    assert err("=1").param == ""
    assert "empty" in err("=1").message


def test_non_utf8():
    assert err(b"name=\xff").param == "name"  # raw bytes in the value
    assert err("name=%FF").param == "name"  # escaped bytes in the value
    assert err(b"\xff=1").param == ""
    assert err("%C3=1").param == ""
    assert err("name=\ud800").param == ""  # lone surrogate in a str


def test_too_deep():
    ok = "a" + "[b]" * (MAX_DEPTH - 1) + "=1"
    parse_form(ok)
    key = "a" + "[b]" * MAX_DEPTH
    e = err(f"{key}=1")
    assert e.param == key


def test_too_many_fields():
    parse_form("&".join(f"k{i}=1" for i in range(1000)))
    e = err("&".join(f"k{i}=1" for i in range(1001)))
    assert e.param == ""


def test_huge_index_does_not_allocate():
    assert err("a[99999999999999999999]=1").param == "a[99999999999999999999]"


def test_error_is_value_error_with_message():
    e = err("name=a&name=b")
    assert isinstance(e, ValueError)
    assert "name" in str(e)


@given(st.binary(max_size=200))
@settings(max_examples=300)
def test_never_crashes_on_arbitrary_bytes(body):
    try:
        out = parse_form(body)
    except FormError as e:
        assert isinstance(e.param, str)
    else:
        assert isinstance(out, dict)


@given(st.text(alphabet="ab[]=&%+0123", max_size=60))
@settings(max_examples=500)
def test_never_crashes_on_bracket_soup(body):
    try:
        assert isinstance(parse_form(body), dict)
    except FormError as e:
        assert isinstance(e.param, str)


# --- flatten_param ---------------------------------------------------------------------


def test_flatten_param():
    assert flatten_param(("amount", "monetary", "value")) == "amount[monetary][value]"
    assert flatten_param(("prices", 0, "id")) == "prices[0][id]"
    assert flatten_param(("name",)) == "name"
    assert flatten_param(()) == ""


# --- round trip through the stripe SDK's encoder ---------------------------------------

needs_sdk = pytest.mark.skipif(_api_encode is None, reason="stripe SDK not importable")


def sdk_encode(params) -> str:
    # Exactly what stripe._api_requestor does for a form-encoded request.
    return urlencode(list(_api_encode(params)))


def expected(value, list_item=False):
    """What the wire form of ``value`` parses back to: leaves as strings, booleans as
    "true"/"false", None and empty containers dropped (the SDK sends nothing for them).

    SDK quirk: a boolean directly inside a list that is a dict's value is sent as
    str(True) == "True" (inside a list of lists it is "true" again)."""
    if isinstance(value, dict):
        out = {k: expected(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v is not None}
    if isinstance(value, list):
        out = [expected(v, list_item=not list_item) for v in value]
        return [v for v in out if v is not None] or None
    if value is None:
        return None
    if isinstance(value, bool) and not list_item:
        return "true" if value else "false"
    return str(value)


def prune(value):
    # Containers that end up empty are not sent at all.
    if isinstance(value, dict):
        out = {k: prune(v) for k, v in value.items()}
        out = {k: v for k, v in out.items() if v not in ({}, [], None)}
        return out
    if isinstance(value, list):
        return [prune(v) for v in value]
    return value


# Keys: no brackets (they are not escaped by the protocol), not empty, not array-like,
# not "metadata" (always a dict; covered by its own test below).
keys = st.text(min_size=1, max_size=8).filter(
    lambda s: "[" not in s and "]" not in s and not s.isdigit() and s != "metadata"
)
leaves = st.one_of(
    st.text(max_size=12),
    st.integers(-(10**12), 10**12),
    st.booleans(),
)
# Lists hold non-empty, non-None items so their indices stay contiguous on the wire.
nested = st.recursive(
    leaves,
    lambda children: st.one_of(
        st.lists(children.filter(lambda v: v not in ({}, [])), min_size=1, max_size=3),
        st.dictionaries(keys, children, min_size=1, max_size=3),
    ),
    max_leaves=12,
)


def has_empty_container_in_list(v) -> bool:
    if isinstance(v, list):
        return any(x in ({}, []) or has_empty_container_in_list(x) for x in v)
    if isinstance(v, dict):
        return any(has_empty_container_in_list(x) for x in v.values())
    return False


def depth(v) -> int:
    if isinstance(v, dict):
        return 1 + max((depth(x) for x in v.values()), default=0)
    if isinstance(v, list):
        return 1 + max((depth(x) for x in v), default=0)
    return 0


@needs_sdk
@given(st.dictionaries(keys, nested, max_size=5))
@settings(max_examples=300)
def test_round_trip_sdk_encoder(params):
    params = prune(params)
    if has_empty_container_in_list(params) or depth(params) > MAX_DEPTH:
        return
    assert parse_form(sdk_encode(params)) == prune(expected(params))


@needs_sdk
@given(
    st.dictionaries(
        st.text(min_size=1, max_size=10).filter(lambda s: "[" not in s and "]" not in s),
        st.text(max_size=10),
        max_size=5,
    )
)
def test_round_trip_metadata_any_keys(metadata):
    # Metadata keys may be numeric; they must not turn into arrays.
    assert parse_form(sdk_encode({"metadata": metadata, "name": "x"})) == (
        {"metadata": metadata, "name": "x"} if metadata else {"name": "x"}
    )


@needs_sdk
def test_round_trip_realistic_create_grant():
    params = {
        "customer": "cus_123",
        "name": "Launch promo & more: 100% off",
        "amount": {"type": "monetary", "monetary": {"currency": "usd", "value": 1000}},
        "applicability_config": {"scope": {"prices": [{"id": "price_1"}, {"id": "price_2"}]}},
        "category": "promotional",
        "priority": 10,
        "expires_at": "",
        "metadata": {"campaign": "q1", "0": "zero", "delete_me": ""},
        "livemode": False,
        "effective_at": None,
    }
    assert parse_form(sdk_encode(params)) == {
        "customer": "cus_123",
        "name": "Launch promo & more: 100% off",
        "amount": {"type": "monetary", "monetary": {"currency": "usd", "value": "1000"}},
        "applicability_config": {"scope": {"prices": [{"id": "price_1"}, {"id": "price_2"}]}},
        "category": "promotional",
        "priority": "10",
        "expires_at": "",
        "metadata": {"campaign": "q1", "0": "zero", "delete_me": ""},
        "livemode": "false",
    }
