"""How many items a sharded list asks each GSI1 shard for first (store/sharded.shard_limit): enough
that one round trip nearly always fills the page, without reading many times the page."""

from math import comb

import pytest

from credits.store.keys import ACCOUNT_SHARDS
from credits.store.sharded import MAX_PAGE, shard_limit


def _second_round_chance(page_hint: int, shards: int, limit: int) -> float:
    """The chance that some shard holds at least `limit` of the page's items (so that the merge
    reads past its first response): items fall into shards uniformly (hashed ids); union bound."""
    p = 1 / shards
    one_shard = sum(comb(page_hint, k) * p**k * (1 - p) ** (page_hint - k) for k in range(limit, page_hint + 1))
    return min(1.0, shards * one_shard)


@pytest.mark.parametrize("page_hint", [2, 11, 21, 51, 101, 501, 1001])
def test_one_round_trip_fills_nearly_every_page(page_hint):
    limit = shard_limit(page_hint, ACCOUNT_SHARDS)
    assert _second_round_chance(page_hint, ACCOUNT_SHARDS, limit) < 0.05
    # ... and the first round reads at most about twice the page (plus a few items per shard).
    assert limit * ACCOUNT_SHARDS <= 2 * page_hint + 4 * ACCOUNT_SHARDS


def test_each_shards_share_alone_would_send_second_queries():
    """Why the limit is above the share: asking each shard for its share + 1 (as before) reads a
    second page for most 20-item lists."""
    share = -(-21 // ACCOUNT_SHARDS) + 1
    assert _second_round_chance(21, ACCOUNT_SHARDS, share) > 0.5


def test_bounds():
    assert shard_limit(1, ACCOUNT_SHARDS) >= 2
    assert shard_limit(10**6, ACCOUNT_SHARDS) == MAX_PAGE
    assert all(shard_limit(n, ACCOUNT_SHARDS) <= shard_limit(n + 1, ACCOUNT_SHARDS) for n in range(1, 2000))
