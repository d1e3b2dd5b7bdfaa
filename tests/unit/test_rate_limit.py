"""Parsing ISSUES_RATE_LIMIT and the token bucket's arithmetic, on a given clock."""

from __future__ import annotations

import pytest

from service.api.rate_limit import InProcessBuckets, RateLimit


@pytest.mark.parametrize("text, rate, burst", [("5", 5.0, 10), ("0.5", 0.5, 1), ("10/3", 10.0, 3), (" 2 / 7 ", 2.0, 7)])
def test_rate_and_burst_default_to_twice_the_rate(text, rate, burst):
    assert RateLimit.parse(text) == RateLimit(rate, burst)


def test_unset_is_no_limit():
    assert RateLimit.parse("") is None


def test_a_bucket_refills_at_the_rate_and_never_past_the_burst():
    limit = RateLimit(2.0, 3)
    buckets = InProcessBuckets()
    assert [buckets.take("a", limit, 100.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert buckets.take("a", limit, 100.0) == pytest.approx(0.5)
    assert buckets.take("a", limit, 100.25) == pytest.approx(0.25)  # a refusal takes nothing
    assert buckets.take("a", limit, 100.5) == 0.0
    # An hour idle refills to the burst, not to 7,200 calls.
    assert [buckets.take("a", limit, 3700.0) for _ in range(4)][3] == pytest.approx(0.5)
