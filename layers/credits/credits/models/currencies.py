"""The ISO 4217 currencies the service supports and their minor-unit digits: part of the
contract (a currency outside this table is a 400), used by the models' validators and by
domain/money.py's rounding."""

from __future__ import annotations

# ISO 4217 minor-unit digits of the supported currencies (the 31 codes of the contract).
CURRENCY_DIGITS: dict[str, int] = {
    "AED": 2, "ARS": 2, "AUD": 2, "BRL": 2, "BGN": 2, "CAD": 2, "CHF": 2, "CLP": 0,
    "CNY": 2, "COP": 2, "CZK": 2, "DKK": 2, "EGP": 2, "EUR": 2, "GBP": 2, "HKD": 2,
    "ILS": 2, "INR": 2, "ISK": 0, "JPY": 0, "KRW": 0, "MXN": 2, "NOK": 2, "NZD": 2,
    "PLN": 2, "SAR": 2, "SEK": 2, "SGD": 2, "THB": 2, "USD": 2, "UYU": 2, "ZAR": 2,
}  # fmt: skip


def is_supported_currency(currency: object) -> bool:
    return isinstance(currency, str) and currency in CURRENCY_DIGITS
