"""Percentiles of durations as every reported p50/p99 computes them: nearest rank, milliseconds."""

from __future__ import annotations

from collections import deque

from ezvtb_node.percentiles import percentile_ms


def test_the_percentile_is_the_sample_at_its_nearest_rank_in_milliseconds():
    samples = [n / 1000 for n in range(100, 0, -1)]  # 1..100 ms, out of order
    assert percentile_ms(samples, 50) == 51.0
    assert percentile_ms(samples, 99) == 100.0
    assert percentile_ms(samples, 0) == 1.0


def test_the_top_percentile_is_the_largest_sample_even_for_a_few_samples():
    assert percentile_ms(deque([0.004, 0.0015]), 100) == 4.0


def test_milliseconds_are_rounded_to_the_microsecond():
    assert percentile_ms([0.0123456789], 50) == 12.346


def test_no_samples_give_no_percentile_rather_than_zero():
    assert percentile_ms([], 50) is None
