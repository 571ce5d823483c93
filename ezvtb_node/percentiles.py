"""Percentiles of durations as the node reports them: nearest rank, in milliseconds.

The outputs (write costs, pacer lateness, browser paint latency) and the node's metrics
(render time, tracking → output latency) all report p50/p99 this way, so their numbers compare.
"""

from __future__ import annotations

from collections.abc import Collection


def percentile_ms(samples_s: Collection[float], q: float) -> float | None:
    """The ``q``-th percentile (0-100, nearest rank) of durations in seconds, in milliseconds
    rounded to the microsecond; None when there are no samples."""
    if not samples_s:
        return None
    ordered = sorted(samples_s)
    return round(ordered[min(len(ordered) - 1, int(len(ordered) * q / 100))] * 1e3, 3)
