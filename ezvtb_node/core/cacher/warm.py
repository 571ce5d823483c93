"""Cache warming: render poses ahead of a stream so a weak machine later serves them as hits."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np

from ezvtb_node.core.cacher.frame_cacher import FrameCacher
from ezvtb_node.pose import POSE_INDEX, POSE_MAX, POSE_MIN, POSE_SIZE
from ezvtb_node.progress import progress_bar
from ezvtb_node.textfiles import open_text_file


@dataclass(frozen=True)
class WarmResult:
    poses: int  # poses read
    rendered: int  # frames rendered and stored
    already_cached: int  # poses whose bucket was cached already (or appeared earlier in the input)


def warm(
    cacher: FrameCacher,
    render: Callable[[np.ndarray], np.ndarray],
    poses: Iterable[np.ndarray],
    *,
    total: int | None = None,
    progress: bool = True,
) -> WarmResult:
    """Render each pose not yet cached (its bucket centre, see FrameCacher.snap) and store it.

    ``render`` maps a (1, 45) float32 pose to a uint8 BGRA frame. Writes wait for the queue instead
    of dropping, and everything is flushed before returning.
    """
    seen: set[bytes] = set()
    rendered = cached = count = 0
    bar = progress_bar("warming cache", total, enabled=progress, unit="pose")
    for pose in poses:
        bar.update()
        count += 1
        key = cacher.key(pose)
        if key in seen or cacher.get(pose) is not None:
            cached += 1
            continue
        seen.add(key)
        cacher.put(pose, render(cacher.snap(pose)), block=True)
        rendered += 1
    bar.close()
    cacher.flush()
    return WarmResult(poses=count, rendered=rendered, already_cached=cached)


def read_pose_lines(stream: IO[str], source: str = "<stdin>") -> Iterator[np.ndarray]:
    """Poses from JSON lines, one array of 45 numbers per line (`ezvtb-node mappings apply` output)."""
    for number, line in enumerate(stream, start=1):
        if not line.strip():
            continue
        try:
            values = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(
                f"{source}:{number}: expected a JSON array of {POSE_SIZE} numbers: {exc.msg}"
            ) from exc
        if not isinstance(values, list) or len(values) != POSE_SIZE:
            got = f"{len(values)} values" if isinstance(values, list) else type(values).__name__
            raise ValueError(f"{source}:{number}: expected a JSON array of {POSE_SIZE} numbers, got {got}")
        try:
            yield np.asarray(values, dtype=np.float32).reshape(1, POSE_SIZE)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{source}:{number}: pose values must be numbers") from exc


def read_pose_file(path: str | Path) -> list[np.ndarray]:
    with open_text_file(path) as stream:
        return list(read_pose_lines(stream, str(path)))


def parse_grid(spec: str) -> list[tuple[int, np.ndarray]]:
    """Parse ``name=lo:hi:count,...`` into (pose index, values) axes.

    Example: ``head_x=-1:1:9,mouth_aaa=0:1:3``.
    """
    axes: list[tuple[int, np.ndarray]] = []
    for part in filter(None, (p.strip() for p in spec.split(","))):
        name, _, numbers = part.partition("=")
        if name not in POSE_INDEX:
            raise ValueError(
                f"grid axis {name!r} is not a THA3 pose parameter (e.g. head_x, mouth_aaa, eye_wink_left)"
            )
        try:
            lo, hi, count = numbers.split(":")
            low, high, steps = float(lo), float(hi), int(count)
        except ValueError as exc:
            raise ValueError(f"grid axis {part!r}: expected name=low:high:count, e.g. head_x=-1:1:9") from exc
        index = POSE_INDEX[name]
        if steps < 1 or not (POSE_MIN[index] <= low <= high <= POSE_MAX[index]):
            raise ValueError(
                f"grid axis {part!r}: need count >= 1 and "
                f"{POSE_MIN[index]:g} <= low <= high <= {POSE_MAX[index]:g}"
            )
        axes.append((index, np.linspace(low, high, steps)))
    if not axes:
        raise ValueError("empty grid: give at least one axis such as head_x=-1:1:9")
    return axes


def grid_poses(axes: list[tuple[int, np.ndarray]]) -> Iterator[np.ndarray]:
    """Every combination of the axes' values; other parameters at rest (0)."""
    for values in itertools.product(*(v for _, v in axes)):
        pose = np.zeros((1, POSE_SIZE), dtype=np.float32)
        for (index, _), value in zip(axes, values, strict=True):
            pose[0, index] = value
        yield pose


def grid_size(axes: list[tuple[int, np.ndarray]]) -> int:
    return int(np.prod([len(v) for _, v in axes]))
