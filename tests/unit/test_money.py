from decimal import Decimal

import pytest
from credits.domain.money import (
    CURRENCY_DIGITS,
    MAX_AMOUNT,
    PRICE_PLACES,
    UNIT_PLACES,
    currency_places,
    format_money,
    format_price,
    format_units,
    from_minor_units,
    is_supported_currency,
    parse_amount,
    parse_money,
    parse_price,
    parse_units,
    round_money,
    round_places,
    to_minor_units,
)
from hypothesis import given, settings
from hypothesis import strategies as st

# ISO 4217 minor units, written out independently of the module's table.
ISO_4217 = {
    "AED": 2, "ARS": 2, "AUD": 2, "BRL": 2, "BGN": 2, "CAD": 2, "CHF": 2, "CLP": 0,
    "CNY": 2, "COP": 2, "CZK": 2, "DKK": 2, "EGP": 2, "EUR": 2, "GBP": 2, "HKD": 2,
    "ILS": 2, "INR": 2, "ISK": 0, "JPY": 0, "KRW": 0, "MXN": 2, "NOK": 2, "NZD": 2,
    "PLN": 2, "SAR": 2, "SEK": 2, "SGD": 2, "THB": 2, "USD": 2, "UYU": 2, "ZAR": 2,
}  # fmt: skip


def test_constants():
    assert UNIT_PLACES == 6
    assert PRICE_PLACES == 12
    assert MAX_AMOUNT == Decimal("1000000000000")


def test_currency_table_is_exactly_the_contract_list():
    assert CURRENCY_DIGITS == ISO_4217
    assert {c for c, d in CURRENCY_DIGITS.items() if d == 0} == {"CLP", "ISK", "JPY", "KRW"}


@pytest.mark.parametrize("currency", sorted(ISO_4217))
def test_every_currency(currency):
    digits = ISO_4217[currency]
    assert is_supported_currency(currency)
    assert currency_places(currency) == digits
    # minor-unit round trip
    for minor in (0, 1, 99, 1234, 10**14):
        value = from_minor_units(minor, currency)
        assert -value.as_tuple().exponent == digits
        assert to_minor_units(value, currency) == minor
    one = Decimal(1).scaleb(-digits)  # the smallest unit
    assert to_minor_units(one, currency) == 1
    assert format_money(Decimal("12"), currency) == ("12" if digits == 0 else "12.00")
    # the currency's own precision is accepted, one more digit is not
    assert parse_money("1." + "5" * digits if digits else "1", currency, field="amount") > 0
    with pytest.raises(ValueError, match=f"amount .* for {currency}"):
        parse_money("1." + "5" * (digits + 1), currency, field="amount")


@pytest.mark.parametrize("code", ["usd", "XXX", "HUF", "", None, 840, "USD "])
def test_unsupported_currency(code):
    assert not is_supported_currency(code)
    with pytest.raises(ValueError, match="unsupported currency"):
        currency_places(code)


def test_minor_units_examples():
    assert to_minor_units(Decimal("12.34"), "USD") == 1234
    assert from_minor_units(1234, "USD") == Decimal("12.34")
    assert to_minor_units(Decimal("1000"), "JPY") == 1000
    assert from_minor_units(1000, "JPY") == Decimal("1000")
    assert to_minor_units(Decimal("1E+3"), "JPY") == 1000
    assert to_minor_units(Decimal("12.3400"), "USD") == 1234  # trailing zeros are harmless


def test_minor_units_rejects_finer_values_and_non_ints():
    with pytest.raises(ValueError):
        to_minor_units(Decimal("12.345"), "USD")
    with pytest.raises(ValueError):
        to_minor_units(Decimal("0.5"), "JPY")
    for bad in (True, 1.0, "1", Decimal(1)):
        with pytest.raises(TypeError):
            from_minor_units(bad, "USD")


@pytest.mark.parametrize(
    "text, places, expected",
    [
        ("12.50", 2, Decimal("12.50")),
        ("10", 2, Decimal("10")),
        ("0.000125", 6, Decimal("0.000125")),
        ("0.000000000001", 12, Decimal("0.000000000001")),
        ("1000000000000", 0, MAX_AMOUNT),
        ("1000000000000.00", 2, MAX_AMOUNT),
        ("007", 0, Decimal(7)),
        ("999999999999.99", 2, Decimal("999999999999.99")),
    ],
)
def test_parse_accepts_plain_decimals(text, places, expected):
    value = parse_amount(text, places=places, field="amount")
    assert value == expected
    assert isinstance(value, Decimal)


@pytest.mark.parametrize(
    "value",
    [
        "1e3", "1E3", "-1", "+1", " 1", "1 ", "1\n", "NaN", "nan", "Infinity", "inf", "-Infinity",
        "1.", ".5", "", ".", "1,5", "1_000", "0x10", "١٢", "1.2.3", "½",
        1, 0, 1.5, True, False, None, Decimal("1"), b"1", ["1"], {"a": "1"},
    ],
)  # fmt: skip
def test_parse_rejects_anything_but_a_plain_decimal_string(value):
    with pytest.raises(ValueError, match=r'^price must be a decimal string like "12.50"$'):
        parse_amount(value, places=12, field="price")


def test_parse_places_messages():
    with pytest.raises(ValueError, match=r"^amount has more than 2 decimal places for USD$"):
        parse_money("12.345", "USD", field="amount")
    with pytest.raises(ValueError, match=r"^amount must be a whole number for JPY$"):
        parse_money("1000.0", "JPY", field="amount")
    with pytest.raises(ValueError, match=r"^quantity has more than 6 decimal places$"):
        parse_units("0.0000001", field="quantity")
    with pytest.raises(ValueError, match=r"^unitPrice has more than 12 decimal places$"):
        parse_price("0.0000000000001", field="unitPrice")
    # digits are counted as written
    with pytest.raises(ValueError, match="more than 2 decimal places"):
        parse_money("12.500", "USD", field="amount")
    with pytest.raises(ValueError, match="for EUR"):
        parse_amount("1.234", places=2, field="amount", qualifier="for EUR")


@pytest.mark.parametrize("zero", ["0", "0.00", "000", "0.000000"])
def test_parse_zero(zero):
    with pytest.raises(ValueError, match=r"^amount must be greater than 0$"):
        parse_amount(zero, places=6, field="amount")
    assert parse_amount(zero, places=6, field="amount", allow_zero=True) == 0


@pytest.mark.parametrize("big", ["1000000000000.01", "1000000000001", "1" + "0" * 40])
def test_parse_above_max(big):
    with pytest.raises(ValueError, match=r"^amount must be at most 1000000000000$"):
        parse_amount(big, places=2, field="amount", allow_zero=True)


def test_parse_is_exact_for_long_values():
    # more digits than the default decimal context (28) keeps
    text = "999999999999.999999999999"
    assert str(parse_price(text, field="p")) == text


def test_round_half_even():
    assert round_money(Decimal("0.015"), "USD") == Decimal("0.02")
    assert round_money(Decimal("0.025"), "USD") == Decimal("0.02")
    assert round_money(Decimal("0.0250001"), "USD") == Decimal("0.03")
    assert round_money(Decimal("2.5"), "JPY") == Decimal("2")
    assert round_money(Decimal("3.5"), "JPY") == Decimal("4")
    assert round_places(Decimal("0.0000000000005"), 12) == Decimal("0")
    assert round_places(Decimal("0.0000000000015"), 12) == Decimal("0.000000000002")
    assert str(round_money(Decimal("12.5"), "USD")) == "12.50"
    # products beyond the default 28-digit precision still round correctly
    big = Decimal("999999999999.999999") * Decimal("1")
    assert round_money(big, "USD") == Decimal("1000000000000.00")


@pytest.mark.parametrize(
    "value, currency, expected",
    [
        ("12.5", "USD", "12.50"),
        ("1E+3", "JPY", "1000"),
        ("1E+3", "USD", "1000.00"),
        ("1E+12", "EUR", "1000000000000.00"),
        ("0", "USD", "0.00"),
        ("-0", "USD", "0.00"),
        ("-0.001", "USD", "0.00"),
        ("0.005", "USD", "0.00"),
        ("0.015", "USD", "0.02"),
        ("1000", "KRW", "1000"),
        ("1E-7", "GBP", "0.00"),
    ],
)
def test_format_money(value, currency, expected):
    assert format_money(Decimal(value), currency) == expected


@pytest.mark.parametrize(
    "value, expected",
    [
        ("12000", "12000"),
        ("1.2E+4", "12000"),
        ("1E+3", "1000"),
        ("0.5", "0.5"),
        ("0.500000", "0.5"),
        ("0", "0"),
        ("0E+5", "0"),
        ("0E-7", "0"),
        ("-0.00", "0"),
        ("1E-12", "0.000000000001"),
        ("0.000125", "0.000125"),
        ("100.00", "100"),
        ("1E+12", "1000000000000"),
    ],
)
def test_format_units_and_price(value, expected):
    assert format_units(Decimal(value)) == expected
    assert format_price(Decimal(value)) == expected


@pytest.mark.parametrize("bad", ["NaN", "Infinity", "-Infinity", "sNaN"])
def test_format_rejects_non_finite(bad):
    with pytest.raises(ValueError):
        format_units(Decimal(bad))
    with pytest.raises(ValueError):
        format_money(Decimal(bad), "USD")


@settings(max_examples=300)
@given(
    st.decimals(allow_nan=False, allow_infinity=False, min_value=-(10**15), max_value=10**15),
    st.sampled_from(sorted(ISO_4217)),
)
def test_formatting_never_uses_exponent(value, currency):
    for text in (format_units(value), format_price(value), format_money(value, currency)):
        assert "e" not in text.lower()
        assert not (text.startswith("-") and Decimal(text) == 0)  # no negative zero
    assert Decimal(format_units(value)) == value
    assert Decimal(format_money(value, currency)) == round_money(value, currency)


@settings(max_examples=300)
@given(st.integers(min_value=1, max_value=10**14), st.sampled_from(sorted(ISO_4217)))
def test_minor_units_round_trip_property(minor, currency):
    value = from_minor_units(minor, currency)
    assert to_minor_units(value, currency) == minor
    text = format_money(value, currency)
    if value <= MAX_AMOUNT:
        assert parse_money(text, currency, field="amount") == value


@settings(max_examples=300)
@given(st.integers(min_value=1, max_value=10**18), st.integers(min_value=0, max_value=6))
def test_parse_round_trips_formatted_units(mantissa, places):
    value = Decimal(mantissa).scaleb(-places)
    text = format_units(value)
    if value <= MAX_AMOUNT:
        assert parse_units(text, field="quantity") == value
    else:
        with pytest.raises(ValueError, match="at most"):
            parse_units(text, field="quantity")
