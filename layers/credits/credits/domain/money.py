"""Currencies, Decimal parsing, rounding and formatting of money, units and prices.

Pure: no I/O. Every amount is a `Decimal`, never a float. Inputs are plain decimal
strings (see API.md "Conventions"); outputs are fixed-point strings, never exponent notation.
"""

from __future__ import annotations

import re
from decimal import (
    ROUND_HALF_EVEN,
    Context,
    Decimal,
    DivisionByZero,
    InvalidOperation,
    Overflow,
)

from credits.models.currencies import CURRENCY_DIGITS, is_supported_currency

__all__ = [
    "CURRENCY_DIGITS",
    "MAX_AMOUNT",
    "MONEY_CONTEXT",
    "PRICE_PLACES",
    "UNIT_PLACES",
    "currency_places",
    "format_money",
    "format_price",
    "format_units",
    "from_minor_units",
    "is_supported_currency",
    "parse_amount",
    "parse_money",
    "parse_price",
    "parse_units",
    "round_money",
    "round_places",
    "to_minor_units",
]

UNIT_PLACES = 6  # quantities and USAGE grant amounts
PRICE_PLACES = 12  # unitPrice / pricePerUnit: sub-cent prices per call are normal
MAX_AMOUNT = Decimal("1e12")

# quantity (13 int + 6 frac digits) x price (13 int + 12 frac digits) needs 44 digits to stay
# exact; 60 leaves room for sums. Default context (prec 28) would silently round such products.
MONEY_CONTEXT = Context(
    prec=60, rounding=ROUND_HALF_EVEN, traps=[InvalidOperation, DivisionByZero, Overflow]
)

# fullmatch + ASCII class: `$` would accept a trailing newline and `\d` Unicode digits.
_PLAIN_DECIMAL = re.compile(r"[0-9]+(?:\.[0-9]+)?")
_ZERO = Decimal(0)


def currency_places(currency: str) -> int:
    """Minor-unit digits of `currency`; ValueError when it is not supported."""
    try:
        return CURRENCY_DIGITS[currency]
    except (KeyError, TypeError):
        raise ValueError(f"unsupported currency {currency!r}") from None


def parse_amount(
    value: object,
    *,
    places: int,
    field: str,
    allow_zero: bool = False,
    qualifier: str = "",
) -> Decimal:
    """Parse a plain decimal string with at most `places` fractional digits, in (0, 1e12].

    `field` names the input in error messages; `qualifier` is appended to the places error,
    e.g. qualifier="for USD" -> "amount has more than 2 decimal places for USD".
    Fractional digits are counted as written, so "12.500" has 3 (the contract limits the
    digits an amount may *carry*).
    """
    if not isinstance(value, str) or not _PLAIN_DECIMAL.fullmatch(value):
        raise ValueError(f'{field} must be a decimal string like "12.50"')
    _, _, fraction = value.partition(".")
    if len(fraction) > places:
        suffix = f" {qualifier}" if qualifier else ""
        if places == 0:
            raise ValueError(f"{field} must be a whole number{suffix}")
        raise ValueError(f"{field} has more than {places} decimal places{suffix}")
    amount = Decimal(value)  # exact: string conversion never rounds
    if amount > MAX_AMOUNT:
        raise ValueError(f"{field} must be at most {format_units(MAX_AMOUNT)}")
    if amount == 0 and not allow_zero:
        raise ValueError(f"{field} must be greater than 0")
    return amount


def parse_money(
    value: object, currency: str, *, field: str, allow_zero: bool = False
) -> Decimal:
    """A cash amount in `currency` (no more fractional digits than the currency has)."""
    return parse_amount(
        value,
        places=currency_places(currency),
        field=field,
        allow_zero=allow_zero,
        qualifier=f"for {currency}",
    )


def parse_units(value: object, *, field: str, allow_zero: bool = False) -> Decimal:
    """A quantity or USAGE amount (at most UNIT_PLACES fractional digits)."""
    return parse_amount(value, places=UNIT_PLACES, field=field, allow_zero=allow_zero)


def parse_price(value: object, *, field: str, allow_zero: bool = False) -> Decimal:
    """A price per unit (at most PRICE_PLACES fractional digits)."""
    return parse_amount(value, places=PRICE_PLACES, field=field, allow_zero=allow_zero)


def round_places(value: Decimal, places: int) -> Decimal:
    """Round half-even to exactly `places` fractional digits."""
    return value.quantize(Decimal(1).scaleb(-places), context=MONEY_CONTEXT)


def round_money(value: Decimal, currency: str) -> Decimal:
    """Round half-even to the currency's minor unit."""
    return round_places(value, currency_places(currency))


def _check_finite(value: Decimal) -> None:
    if not value.is_finite():
        raise ValueError(f"cannot format non-finite amount {value!r}")


def _fixed(value: Decimal) -> str:
    _check_finite(value)
    if value.is_zero():
        value = _ZERO.quantize(value)  # drop a negative zero's sign, keep the exponent
    return format(value, "f")  # "f" never uses exponent notation


def format_money(value: Decimal, currency: str) -> str:
    """Fixed-point with exactly the currency's digits: "12.50", "1000" (JPY)."""
    _check_finite(value)  # before quantize, which would raise InvalidOperation instead
    return _fixed(round_money(value, currency))


def format_units(value: Decimal) -> str:
    """Plain fixed-point without trailing zeros: "12000", "0.5", "0"."""
    text = _fixed(value)
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def format_price(value: Decimal) -> str:
    """Same shape as units: "0.000125"."""
    return format_units(value)


def to_minor_units(value: Decimal, currency: str) -> int:
    """USD 12.34 -> 1234, JPY 1000 -> 1000. ValueError if `value` has finer digits."""
    places = currency_places(currency)
    scaled = value.scaleb(places, context=MONEY_CONTEXT)
    if not scaled.is_finite() or scaled != scaled.to_integral_value():
        raise ValueError(f"{value} has more than {places} decimal places for {currency}")
    return int(scaled)


def from_minor_units(value: int, currency: str) -> Decimal:
    """1234 (USD) -> Decimal("12.34"); the result carries exactly the currency's digits."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError("minor units must be an int")
    return Decimal(value).scaleb(-currency_places(currency), context=MONEY_CONTEXT)
