"""How a grant's amounts read on the wire: at the scale they were given with, zero as "0"."""

from __future__ import annotations

from decimal import Decimal

import pytest
from credits.api.views import amount_text


@pytest.mark.parametrize(("value", "scale", "text"), [
    ("10", 0, "10"), ("10.00", 2, "10.00"), ("10", 2, "10.00"), ("7.5", 0, "7.5"), ("7.50", 0, "7.5"),
    ("0", 2, "0"), ("0.00", 0, "0"), ("1E+3", 0, "1000"), ("0.000125", 2, "0.000125"), ("12.5", 2, "12.50"),
])
def test_grant_amounts_keep_the_scale_they_were_given_with(value, scale, text):
    assert amount_text(Decimal(value), "CASH", "USD", scale) == text


def test_without_a_known_scale_cash_uses_the_currency_digits():
    assert amount_text(Decimal("10"), "CASH", "USD") == "10.00"
    assert amount_text(Decimal("10"), "CASH", "JPY") == "10"
    assert amount_text(Decimal("1000.500"), "USAGE", None) == "1000.5"
