"""Post-processing settings of a mapping file: filters, quantization, breathing, blinking, idle.

They are per parameter *group*, so a file says "smooth the eyes less than the head" in one line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ezvtb_node.channels import KNOWN_CHANNELS
from ezvtb_node.mapping.filters import DISABLED_CUTOFF
from ezvtb_node.mapping.schema import TableReader, suggestion
from ezvtb_node.pose import POSE_NAMES, POSE_SIZE


def _group_of(name: str) -> str:
    if name.startswith("iris_"):
        return "iris"
    if name in ("head_x", "head_y", "neck_z"):
        return "head"
    return name.split("_", 1)[0]  # eyebrow, eye, mouth, body, breathing


PARAMETER_GROUPS: dict[str, tuple[int, ...]] = {}
for _index, _name in enumerate(POSE_NAMES):
    PARAMETER_GROUPS.setdefault(_group_of(_name), ())
    PARAMETER_GROUPS[_group_of(_name)] += (_index,)


@dataclass(frozen=True)
class FilterSettings:
    """One Euro filter parameters per pose parameter (arrays of 45)."""

    enabled: bool
    min_cutoff: np.ndarray
    beta: np.ndarray
    d_cutoff: float


@dataclass(frozen=True)
class PostSettings:
    filters: FilterSettings
    quantize_steps: np.ndarray  # (45,), 0 = not quantized
    breathing_period: float | None  # seconds, None = off
    auto_blink_interval: float | None  # seconds between blinks, None = off
    auto_blink_duration: float
    auto_blink_jitter: float
    idle_ease_s: float
    neutral: dict[str, float] = field(default_factory=dict)


_FILTER_KEYS = ("enabled", "min_cutoff", "beta")


def _per_group(
    table: dict[str, Any],
    key: tuple[str, ...],
    default: float,
    read: Any,
) -> np.ndarray:
    values = np.full(POSE_SIZE, default, dtype=np.float64)
    for group, value in table.items():
        if group not in PARAMETER_GROUPS:
            continue
        values[list(PARAMETER_GROUPS[group])] = read(value, (*key, group))
    return values


def read_post_settings(reader: TableReader, data: dict[str, Any]) -> PostSettings:
    groups = tuple(PARAMETER_GROUPS)

    filters = reader.table(data.get("filters", {}), ("filters",))
    reader.known_keys(filters, ("filters",), ("enabled", "min_cutoff", "beta", "d_cutoff", *groups))
    enabled = reader.boolean(filters.get("enabled", True), ("filters", "enabled"))
    min_cutoff = np.full(
        POSE_SIZE, reader.number(filters.get("min_cutoff", 10.0), ("filters", "min_cutoff"), 0, None, True)
    )
    beta = np.full(POSE_SIZE, reader.number(filters.get("beta", 0.3), ("filters", "beta"), 0))
    d_cutoff = reader.number(filters.get("d_cutoff", 1.0), ("filters", "d_cutoff"), 0, None, True)
    for group in groups:
        if group not in filters:
            continue
        key = ("filters", group)
        table = reader.table(filters[group], key)
        reader.known_keys(table, key, _FILTER_KEYS)
        indices = list(PARAMETER_GROUPS[group])
        if "min_cutoff" in table:
            min_cutoff[indices] = reader.number(table["min_cutoff"], (*key, "min_cutoff"), 0, None, True)
        if "beta" in table:
            beta[indices] = reader.number(table["beta"], (*key, "beta"), 0)
        if not reader.boolean(table.get("enabled", True), (*key, "enabled")):
            min_cutoff[indices] = DISABLED_CUTOFF

    quantize = reader.table(data.get("quantize", {}), ("quantize",))
    reader.known_keys(quantize, ("quantize",), ("default", *groups))

    def step(value: Any, key: tuple[str, ...]) -> float:
        return reader.number(value, key, 0, 1)

    steps = _per_group(
        quantize, ("quantize",), step(quantize.get("default", 0.0), ("quantize", "default")), step
    )

    breathing = reader.table(data.get("breathing", {}), ("breathing",))
    reader.known_keys(breathing, ("breathing",), ("enabled", "period"))
    period = reader.number(breathing.get("period", 3.0), ("breathing", "period"), 0, None, True)
    breathing_on = reader.boolean(breathing.get("enabled", False), ("breathing", "enabled"))

    blink = reader.table(data.get("auto_blink", {}), ("auto_blink",))
    reader.known_keys(blink, ("auto_blink",), ("enabled", "interval", "duration", "jitter"))
    interval = reader.number(blink.get("interval", 4.0), ("auto_blink", "interval"), 0, None, True)
    duration = reader.number(blink.get("duration", 0.15), ("auto_blink", "duration"), 0, None, True)
    if duration >= interval:
        raise reader.error(
            ("auto_blink", "duration"),
            f"expected a duration shorter than the interval ({interval:g} s), got {duration:g}",
        )
    jitter = reader.number(blink.get("jitter", 0.3), ("auto_blink", "jitter"), 0, 0.9)
    blink_on = reader.boolean(blink.get("enabled", False), ("auto_blink", "enabled"))

    idle = reader.table(data.get("idle", {}), ("idle",))
    reader.known_keys(idle, ("idle",), ("ease_ms",))
    ease_ms = reader.number(idle.get("ease_ms", 500.0), ("idle", "ease_ms"), 0)

    calibration = reader.table(data.get("calibration", {}), ("calibration",))
    reader.known_keys(calibration, ("calibration",), ("neutral",))
    neutral_table = reader.table(calibration.get("neutral", {}), ("calibration", "neutral"))
    neutral: dict[str, float] = {}
    for channel, value in neutral_table.items():
        key = ("calibration", "neutral", channel)
        if channel not in KNOWN_CHANNELS:
            raise reader.error(key, f"unknown channel '{channel}'{suggestion(channel, KNOWN_CHANNELS)}")
        neutral[channel] = reader.number(value, key)

    return PostSettings(
        filters=FilterSettings(enabled, min_cutoff, beta, d_cutoff),
        quantize_steps=steps,
        breathing_period=period if breathing_on else None,
        auto_blink_interval=interval if blink_on else None,
        auto_blink_duration=duration,
        auto_blink_jitter=jitter,
        idle_ease_s=ease_ms / 1000.0,
        neutral=neutral,
    )
