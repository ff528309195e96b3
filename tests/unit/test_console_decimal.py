"""The console's price-per-unit <-> total auto-fill (console/static/decimal.mjs), run in node,
against the service's own rule (credits.money, credits.grants): exact decimals, half-even."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest
from credits.domain import money
from credits.domain.grant_rules import _usage_cost
from credits.models.api import CreateGrantRequest
from hypothesis import given
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[2]
STATIC = ROOT / "console" / "static"

SCRIPT = f"""
import * as d from {json.dumps((STATIC / "decimal.mjs").as_uri())};
import * as f from {json.dumps((STATIC / "format.mjs").as_uri())};
import readline from "node:readline";
const rl = readline.createInterface({{input: process.stdin}});
rl.on("line", (line) => {{
  const [op, ...args] = JSON.parse(line);
  let out;
  try {{
    if (op === "total") out = d.totalFromPrice(args[0], args[1], args[2]);
    else if (op === "price") out = d.priceFromTotal(args[0], args[1]);
    else if (op === "round") out = d.format(d.roundTo(d.parse(args[0]), args[1]));
    else if (op === "digits") out = f.CURRENCY_DIGITS;
    else if (op === "money") out = f.money(args[0], args[1]);
  }} catch (e) {{ out = {{error: e.message}}; }}
  process.stdout.write(JSON.stringify(out) + "\\n");
}});
"""


@pytest.fixture(scope="module")
def js():
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is needed to run the console's JavaScript")
    proc = subprocess.Popen([node, "--input-type=module", "-e", SCRIPT], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True, bufsize=1)

    def call(*args):
        proc.stdin.write(json.dumps(args) + "\n")
        proc.stdin.flush()
        return json.loads(proc.stdout.readline())

    yield call
    proc.stdin.close()
    proc.wait(timeout=10)


def plain(places: int, max_int: int = 10**9):
    """Plain decimal strings > 0 with up to `places` fractional digits."""
    return st.builds(lambda i, f, k: f"{i}.{str(f).zfill(places)[:k]}".rstrip(".") if k else str(i),
                     st.integers(0, max_int), st.integers(0, 10**places - 1), st.integers(0, places)) \
        .filter(lambda s: Decimal(s) > 0)


def test_the_console_knows_the_services_currencies(js):
    assert js("digits") == money.CURRENCY_DIGITS


@given(value=plain(18, 10**12), places=st.sampled_from([0, 2, 3, 6, 12]))
def test_rounding_is_the_services_half_even(js, value, places):
    assert Decimal(js("round", value, places)) == money.round_places(Decimal(value), places)
    assert js("round", value, places) == format(money.round_places(Decimal(value), places), "f")


@given(price=plain(12, 10**3), units=plain(6, 10**7), digits=st.sampled_from([0, 2, 3]))
def test_total_from_price_per_unit(js, price, units, digits):
    expected = money.round_places(Decimal(price) * Decimal(units), digits)
    assert js("total", price, units, digits) == format(expected, "f")


@given(total=plain(3, 10**9), units=plain(6, 10**9))
def test_price_per_unit_from_total(js, total, units):
    expected = money.round_places(Decimal(total) / Decimal(units), money.PRICE_PLACES)
    assert Decimal(js("price", total, units)) == expected
    assert js("price", total, units) == money.format_price(expected)


@given(data=st.data(), currency=st.sampled_from(["JPY", "USD", "EUR", "KRW", "GBP"]), units=plain(6, 10**7))
def test_what_the_console_sends_the_service_accepts(js, data, currency, units):
    """Either way round, the pair the form shows passes the service's agreement rule (and a
    3-digit currency's amounts round the same way in both, above)."""
    digits = money.currency_places(currency)
    if data.draw(st.booleans(), label="typed the price"):
        price = data.draw(plain(12, 10**3), label="price")
        total = js("total", price, units, digits)
    else:
        total = data.draw(plain(digits, 10**9), label="total") if digits else str(data.draw(st.integers(1, 10**9)))
        price = js("price", total, units)
    body = CreateGrantRequest(customerId="c", name="n", type="USAGE", amount=units, metricId="m", currency=currency,
                              costOfCredit=total, pricePerUnit=price)
    cost, per_unit = _usage_cost(body, Decimal(units), currency)
    assert cost == Decimal(total) and per_unit == Decimal(price)


@pytest.mark.parametrize(("amount", "currency", "shown"), [
    ("1234.5", "USD", "$1,234.50"), ("1000", "JPY", "¥1,000"), ("0", "EUR", "€0.00"), ("12.5", "CHF", "12.50 CHF"),
])
def test_money_is_shown_in_the_currencys_format(js, amount, currency, shown):
    assert js("money", amount, currency) == shown


def test_no_float_arithmetic_in_the_money_path():
    text = (STATIC / "decimal.mjs").read_text()
    assert not re.search(r"parseFloat|Number\(|toFixed|Math\.(?!max\()", text)  # Math.max only compares scales
