import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest
from credits.domain.burndown import (
    Allocation,
    BurnGrant,
    BurnLine,
    apply_allocations,
    burndown,
    grant_sort_key,
    line_amount,
    ordered_grants,
    summarize,
)
from credits.domain.money import round_money
from hypothesis import given, settings
from hypothesis import strategies as st

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def day(n: int) -> datetime:
    return T0 + timedelta(days=n)


def cash(id_, balance, **kw) -> BurnGrant:
    fields = dict(
        id=id_, type="CASH", currency="USD", metric_id=None, balance=D(balance), priority=50,
        expires_at=None, category="PAID", effective_at=T0, created_at=T0,
        applicable_metric_ids=None,
    )  # fmt: skip
    fields.update(kw)
    return BurnGrant(**fields)


def usage(id_, units, metric="api_calls", **kw) -> BurnGrant:
    return cash(id_, units, type="USAGE", metric_id=metric, **kw)


def amount_line(line_id, amount, metric=None, **kw) -> BurnLine:
    return BurnLine(line_id=line_id, metric_id=metric, amount=D(amount), **kw)


def usage_line(line_id, quantity, unit_price, metric="api_calls", currency="USD", **kw):
    q, p = D(quantity), D(unit_price)
    return BurnLine(line_id, metric, line_amount(q, p, currency), q, p, **kw)


def values(allocs):
    return [(a.grant_id, a.line_id, a.value) for a in allocs]


# ---------------------------------------------------------------- examples from the contract


def test_seed_example_150_minus_50():
    lines = [amount_line("l1", "150.00")]
    allocs = burndown(lines, [cash("g", "50.00")], "USD")
    assert allocs == [Allocation("g", "CASH", "l1", None, D("50.00"))]
    s = summarize(lines, allocs, "USD")
    assert (s.subtotal, s.credits_applied, s.total_due) == (D("150.00"), D("50.00"), D("100.00"))
    assert [(r.line_id, r.amount, r.credits_applied, r.amount_due) for r in s.lines] == [
        ("l1", D("150.00"), D("50.00"), D("100.00"))
    ]


def test_contract_response_example():
    lines = [usage_line("l1", "12000", "0.01"), amount_line("l2", "150.00")]
    grants = [cash("c", "50.00", priority=0), usage("u", "12000", priority=100)]
    allocs = burndown(lines, grants, "USD")
    assert allocs == [
        Allocation("u", "USAGE", "l1", D("12000"), D("120.00")),
        Allocation("c", "CASH", "l2", None, D("50.00")),
    ]
    s = summarize(lines, allocs, "USD")
    assert (s.subtotal, s.credits_applied, s.total_due) == (D("270.00"), D("170.00"), D("100.00"))
    assert [r.amount_due for r in s.lines] == [D("0.00"), D("100.00")]


# ---------------------------------------------------------------- ordering


def test_usage_before_cash_whatever_the_priority():
    lines = [usage_line("l1", "100", "1.00")]
    grants = [cash("c", "1000.00", priority=0), usage("u", "40", priority=100)]
    assert burndown(lines, grants, "USD") == [
        Allocation("u", "USAGE", "l1", D("40"), D("40.00")),
        Allocation("c", "CASH", "l1", None, D("60.00")),
    ]


def test_priority_before_expiry():
    lines = [amount_line("l1", "10.00")]
    grants = [cash("soon", "10.00", priority=60, expires_at=day(1)), cash("late", "10.00", priority=40)]
    assert values(burndown(lines, grants, "USD")) == [("late", "l1", D("10.00"))]


def test_soonest_expiry_first_never_expiring_last():
    lines = [amount_line("l1", "30.00")]
    grants = [
        cash("never", "100.00"),
        cash("d9", "10.00", expires_at=day(9)),
        cash("d2", "10.00", expires_at=day(2)),
        cash("d5", "5.00", expires_at=day(5)),
    ]
    assert values(burndown(lines, grants, "USD")) == [
        ("d2", "l1", D("10.00")),
        ("d5", "l1", D("5.00")),
        ("d9", "l1", D("10.00")),
        ("never", "l1", D("5.00")),
    ]


def test_promotional_before_paid():
    lines = [amount_line("l1", "10.00")]
    grants = [cash("paid", "10.00"), cash("promo", "10.00", category="PROMOTIONAL")]
    assert values(burndown(lines, grants, "USD")) == [("promo", "l1", D("10.00"))]


@pytest.mark.parametrize(
    "winner, loser",
    [
        # ids chosen so that the id tie-break alone would pick the loser
        (cash("z", "10.00", effective_at=day(-2)), cash("a", "10.00", effective_at=day(-1))),
        (cash("z", "10.00", created_at=day(-2)), cash("a", "10.00", created_at=day(-1))),
        (cash("z", "10.00", effective_at=day(-2), created_at=day(0)),
         cash("a", "10.00", effective_at=day(-1), created_at=day(-5))),  # effectiveAt beats createdAt
        (cash("a", "10.00"), cash("b", "10.00")),  # everything else equal: the id decides
    ],
)  # fmt: skip
def test_tie_breaks(winner, loser):
    lines = [amount_line("l1", "10.00")]
    for order in ([winner, loser], [loser, winner]):
        assert values(burndown(lines, order, "USD")) == [(winner.id, "l1", D("10.00"))]


def test_sort_key_full_order():
    expected = [
        cash("1", "1", priority=0, expires_at=None),
        cash("2", "1", priority=1, expires_at=day(1), category="PAID"),
        cash("3", "1", priority=1, expires_at=day(2), category="PROMOTIONAL"),
        cash("4", "1", priority=1, expires_at=day(2), category="PAID", effective_at=day(-3)),
        cash("5", "1", priority=1, expires_at=day(2), category="PAID", effective_at=day(-2), created_at=day(-9)),
        cash("6", "1", priority=1, expires_at=day(2), category="PAID", effective_at=day(-2), created_at=day(-8)),
        cash("7", "1", priority=1, expires_at=day(2), category="PAID", effective_at=day(-2), created_at=day(-8)),
        cash("0", "1", priority=1, expires_at=None, category="PROMOTIONAL"),
        cash("8", "1", priority=1, expires_at=None, category="PAID"),
        cash("9", "1", priority=100, expires_at=day(1)),
    ]  # fmt: skip
    shuffled = expected[:]
    random.Random(7).shuffle(shuffled)
    assert [g.id for g in sorted(shuffled, key=grant_sort_key)] == [g.id for g in expected]


def test_usage_grants_are_ordered_too():
    lines = [usage_line("l1", "10", "1.00")]
    grants = [usage("late", "10", expires_at=day(9)), usage("soon", "4", expires_at=day(1))]
    assert [(a.grant_id, a.units) for a in burndown(lines, grants, "USD")] == [
        ("soon", D("4")),
        ("late", D("6")),
    ]


# ---------------------------------------------------------------- which lines a grant may pay


def test_applicability_restricts_lines():
    lines = [
        amount_line("plain", "10.00"),
        amount_line("storage", "10.00", metric="storage"),
        usage_line("calls", "10", "1.00", metric="api_calls"),
        amount_line("seats", "10.00", metric="seats"),
    ]
    g = cash("g", "100.00", applicable_metric_ids=("api_calls", "seats"))
    assert values(burndown(lines, [g], "USD")) == [("g", "calls", D("10.00")), ("g", "seats", D("10.00"))]
    nothing = cash("n", "100.00", applicable_metric_ids=())
    assert burndown(lines, [nothing], "USD") == []


def test_cash_grant_in_other_currency_is_ignored():
    lines = [amount_line("l1", "10.00")]
    grants = [cash("eur", "10.00", currency="EUR"), cash("none", "10.00", currency=None)]
    assert burndown(lines, grants, "USD") == []
    assert values(burndown(lines, grants + [cash("usd", "3.00")], "USD")) == [("usd", "l1", D("3.00"))]


def test_usage_grant_for_other_metric_is_ignored():
    lines = [usage_line("l1", "10", "1.00", metric="api_calls"), amount_line("l2", "5.00", metric="storage")]
    grants = [usage("u", "100", metric="storage"), usage("x", "100", metric=None)]
    assert burndown(lines, grants, "USD") == []


def test_usage_grant_ignores_amount_lines_of_its_metric():
    lines = [amount_line("l1", "10.00", metric="api_calls")]
    assert burndown(lines, [usage("u", "100")], "USD") == []


def test_partial_unit_coverage_then_cash_on_the_rest():
    lines = [usage_line("l1", "1000", "0.012")]  # 12.00
    grants = [usage("u", "250.5"), cash("c", "100.00")]
    allocs = burndown(lines, grants, "USD")
    # 250.5 x 0.012 = 3.006 -> 3.01
    assert allocs == [
        Allocation("u", "USAGE", "l1", D("250.5"), D("3.01")),
        Allocation("c", "CASH", "l1", None, D("8.99")),
    ]
    assert summarize(lines, allocs, "USD").total_due == D("0.00")


# ---------------------------------------------------------------- rounding


def test_usage_line_amount_rounds_half_even():
    assert line_amount(D("3"), D("0.005"), "USD") == D("0.02")  # 0.015 -> 0.02
    assert line_amount(D("5"), D("0.005"), "USD") == D("0.02")  # 0.025 -> 0.02
    assert line_amount(D("1"), D("0.005"), "USD") == D("0.00")
    assert line_amount(D("7"), D("0.5"), "JPY") == D("4")  # 3.5 -> 4
    assert line_amount(D("5"), D("0.5"), "JPY") == D("2")  # 2.5 -> 2


def test_cumulative_rounding_unit_by_unit_sums_to_line_amount():
    lines = [usage_line("l1", "3", "0.005")]  # 0.015 -> 0.02
    grants = [usage(f"u{i}", "1", created_at=day(i)) for i in range(3)]
    allocs = burndown(lines, grants, "USD")
    assert [(a.units, a.value) for a in allocs] == [
        (D("1"), D("0.00")),  # round(0.005) - 0
        (D("1"), D("0.01")),  # round(0.010) - round(0.005)
        (D("1"), D("0.01")),  # round(0.015) - round(0.010)
    ]
    assert sum(a.value for a in allocs) == lines[0].amount
    assert burndown(lines, [usage("all", "3")], "USD") == [Allocation("all", "USAGE", "l1", D("3"), D("0.02"))]


def test_fractional_units_and_sub_cent_prices():
    lines = [usage_line("l1", "1234.567891", "0.000123456789")]
    allocs = burndown(lines, [usage("a", "0.000001"), usage("b", "1000000", priority=99)], "USD")
    assert sum(a.value for a in allocs) == lines[0].amount
    assert sum(a.units for a in allocs) == D("1234.567891")


def test_jpy_usage_and_cash():
    lines = [usage_line("l1", "7", "0.5", currency="JPY"), amount_line("l2", "1000")]
    allocs = burndown(lines, [usage("u", "3"), cash("c", "500", currency="JPY")], "JPY")
    # 3 x 0.5 = 1.5 -> 2; line amount 3.5 -> 4
    assert values(allocs) == [("u", "l1", D("2")), ("c", "l1", D("2")), ("c", "l2", D("498"))]


# ---------------------------------------------------------------- limits and shapes


def test_lines_never_below_zero():
    lines = [amount_line("l1", "10.00"), usage_line("l2", "5", "1.00")]
    allocs = burndown(lines, [usage("u", "1000"), cash("c", "1000.00")], "USD")
    assert values(allocs) == [("u", "l2", D("5.00")), ("c", "l1", D("10.00"))]
    assert summarize(lines, allocs, "USD").total_due == D("0.00")
    assert allocs[0].units == D("5")  # never more units than the line has


def test_multiple_grants_on_one_line_and_one_grant_across_lines():
    lines = [amount_line("l1", "30.00"), amount_line("l2", "30.00"), amount_line("l3", "30.00")]
    grants = [cash("a", "10.00", priority=1), cash("b", "10.00", priority=2), cash("big", "45.00", priority=3)]
    assert values(burndown(lines, grants, "USD")) == [
        ("a", "l1", D("10.00")),
        ("b", "l1", D("10.00")),
        ("big", "l1", D("10.00")),
        ("big", "l2", D("30.00")),
        ("big", "l3", D("5.00")),
    ]


def test_usage_grant_across_lines_in_input_order():
    lines = [usage_line("b", "5", "1.00"), amount_line("x", "1.00"), usage_line("a", "5", "2.00")]
    allocs = burndown(lines, [usage("u", "7")], "USD")
    assert [(a.line_id, a.units, a.value) for a in allocs] == [("b", D("5"), D("5.00")), ("a", D("2"), D("4.00"))]


def test_empty_and_non_positive_balances_are_skipped():
    lines = [amount_line("l1", "10.00")]
    assert burndown(lines, [], "USD") == []
    assert burndown([], [cash("c", "1.00")], "USD") == []
    assert burndown(lines, [cash("z", "0.00"), cash("n", "-1.00"), usage("u", "0")], "USD") == []


def test_fully_credited_line_keeps_the_usage_units():
    lines = [usage_line("l1", "10", "1.00", credited=D("10.00"))]
    assert burndown(lines, [usage("u", "5")], "USD") == []


def test_invalid_input_is_refused():
    with pytest.raises(ValueError, match="currency"):
        burndown([], [], "XXX")
    with pytest.raises(ValueError, match="duplicate lineId"):
        burndown([amount_line("l", "1.00"), amount_line("l", "2.00")], [], "USD")
    with pytest.raises(ValueError, match="duplicate grant id"):
        burndown([], [cash("g", "1.00"), cash("g", "2.00")], "USD")
    with pytest.raises(ValueError, match="grant type"):
        burndown([], [cash("g", "1.00", type="GIFT")], "USD")
    with pytest.raises(ValueError, match="unknown lineId"):
        summarize([], [Allocation("g", "CASH", "nope", None, D("1.00"))], "USD")


def test_summarize_counts_earlier_credits():
    lines = [amount_line("l1", "100.00", credited=D("30.00")), amount_line("l2", "20.00")]
    allocs = burndown(lines, [cash("c", "80.00")], "USD")
    assert values(allocs) == [("c", "l1", D("70.00")), ("c", "l2", D("10.00"))]
    s = summarize(lines, allocs, "USD")
    assert [(r.credits_applied, r.amount_due) for r in s.lines] == [(D("100.00"), D("0.00")), (D("10.00"), D("10.00"))]
    assert (s.subtotal, s.credits_applied, s.total_due) == (D("120.00"), D("110.00"), D("10.00"))
    assert str(s.total_due) == "10.00"


def test_continuation_matches_one_run():
    lines = [usage_line("l1", "3", "0.005"), usage_line("l2", "1000", "0.012"), amount_line("l3", "50.00")]
    grants = ordered_grants(
        [usage("u1", "1", priority=1), usage("u2", "600", priority=2), usage("u3", "500", priority=3),
         cash("c1", "5.00", priority=1), cash("c2", "40.00", priority=2)],
    )  # fmt: skip
    assert [g.id for g in grants] == ["u1", "u2", "u3", "c1", "c2"]
    whole = burndown(lines, grants, "USD")
    for cut in range(len(grants) + 1):
        first = burndown(lines, grants[:cut], "USD")
        rest = burndown(apply_allocations(lines, first), grants[cut:], "USD")
        assert first + rest == whole, cut


def test_apply_allocations():
    lines = [usage_line("l1", "10", "1.00"), amount_line("l2", "5.00")]
    allocs = [Allocation("u", "USAGE", "l1", D("4"), D("4.00")), Allocation("c", "CASH", "l1", None, D("1.00"))]
    after = apply_allocations(lines, allocs)
    assert after[0] == replace(lines[0], credited=D("5.00"), covered_units=D("4"))
    assert after[1] == lines[1]


# ---------------------------------------------------------------- properties

METRICS = ["api_calls", "storage", "seats"]
CURRENCIES = ["USD", "JPY"]
PLACES = {"USD": 2, "JPY": 0}


def _money(places):
    return st.integers(min_value=0, max_value=50_000).map(lambda n: D(n).scaleb(-places))


@st.composite
def scenarios(draw):
    currency = draw(st.sampled_from(CURRENCIES))
    places = PLACES[currency]
    lines = []
    for i in range(draw(st.integers(min_value=0, max_value=6))):
        metric = draw(st.sampled_from([None, *METRICS]))
        if metric is not None and draw(st.booleans()):
            q = D(draw(st.integers(min_value=0, max_value=10**7))).scaleb(-draw(st.integers(0, 6)))
            p = D(draw(st.integers(min_value=0, max_value=10**6))).scaleb(-draw(st.integers(0, 12)))
            lines.append(BurnLine(f"l{i}", metric, line_amount(q, p, currency), q, p))
        else:
            lines.append(BurnLine(f"l{i}", metric, draw(_money(places))))
    grants = []
    for j in range(draw(st.integers(min_value=0, max_value=8))):
        kind = draw(st.sampled_from(["CASH", "USAGE"]))
        common = dict(
            id=f"g{draw(st.integers(0, 3))}-{j}",
            priority=draw(st.sampled_from([0, 50, 100])),
            expires_at=draw(st.sampled_from([None, day(1), day(2)])),
            category=draw(st.sampled_from(["PAID", "PROMOTIONAL"])),
            effective_at=draw(st.sampled_from([day(-2), day(-1)])),
            created_at=draw(st.sampled_from([day(-2), day(-1)])),
        )
        if kind == "CASH":
            cur = draw(st.sampled_from([currency, currency, "EUR"]))
            applicable = draw(st.one_of(st.none(), st.lists(st.sampled_from(METRICS), max_size=2).map(tuple)))
            grants.append(
                BurnGrant(type="CASH", currency=cur, metric_id=None, balance=draw(_money(PLACES.get(cur, 2))),
                          applicable_metric_ids=applicable, **common)
            )  # fmt: skip
        else:
            units = D(draw(st.integers(min_value=0, max_value=10**7))).scaleb(-draw(st.integers(0, 6)))
            grants.append(
                BurnGrant(type="USAGE", currency=None, metric_id=draw(st.sampled_from(METRICS)), balance=units,
                          applicable_metric_ids=None, **common)
            )  # fmt: skip
    return currency, lines, grants


@settings(max_examples=400, deadline=None)
@given(scenarios(), st.randoms(use_true_random=False))
def test_burndown_properties(scenario, rnd):
    currency, lines, grants = scenario
    allocs = burndown(lines, grants, currency)
    by_line = {line.line_id: line for line in lines}
    by_grant = {g.id: g for g in grants}

    # values: non-negative, with the currency's digits; units only on USAGE
    for a in allocs:
        assert a.value >= 0
        assert round_money(a.value, currency) == a.value
        g = by_grant[a.grant_id]
        assert a.type == g.type
        if a.type == "USAGE":
            assert a.units is not None and a.units > 0
            assert g.metric_id == by_line[a.line_id].metric_id
        else:
            assert a.units is None and a.value > 0 and g.currency == currency
            if g.applicable_metric_ids is not None:
                assert by_line[a.line_id].metric_id in g.applicable_metric_ids

    # one allocation per (grant, line)
    pairs = [(a.grant_id, a.line_id) for a in allocs]
    assert len(pairs) == len(set(pairs))

    # per grant <= balance (money for CASH, units for USAGE)
    for g in grants:
        mine = [a for a in allocs if a.grant_id == g.id]
        used = sum((a.units if g.type == "USAGE" else a.value for a in mine), D(0))
        assert used <= max(g.balance, D(0))

    # per line <= amount, units <= quantity; totals
    for line in lines:
        mine = [a for a in allocs if a.line_id == line.line_id]
        assert sum((a.value for a in mine), D(0)) <= line.amount
        units = sum((a.units for a in mine if a.units is not None), D(0))
        if line.quantity is not None:
            assert units <= line.quantity
            if units == line.quantity and line.quantity > 0:  # fully unit-covered: exact amount
                assert sum((a.value for a in mine if a.type == "USAGE"), D(0)) == line.amount
    s = summarize(lines, allocs, currency)
    assert s.credits_applied <= s.subtotal
    assert s.total_due == s.subtotal - s.credits_applied >= 0
    assert all(r.amount_due >= 0 for r in s.lines)

    # USAGE allocations all come before CASH ones
    types = [a.type for a in allocs]
    assert types == sorted(types, key=lambda t: t == "CASH")

    # independent of the order the grants are passed in
    shuffled = grants[:]
    rnd.shuffle(shuffled)
    assert burndown(lines, shuffled, currency) == allocs

    # continuation: a prefix in sort order, then the rest, gives the same allocations
    ordered = ordered_grants(grants)
    cut = rnd.randint(0, len(ordered))
    first = burndown(lines, ordered[:cut], currency)
    rest = burndown(apply_allocations(lines, first), ordered[cut:], currency)
    assert first + rest == allocs
