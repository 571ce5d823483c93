"""Speed of the mapping stage: the default ARKit mapping per frame, against the reference's way.

The reference (THA3 demo) evaluates the same formulas and runs scipy's L-BFGS-B for the mouth every
frame; its formulas are re-implemented in tests/mapping/reference.py and timed here in the same run.

    .venv/bin/python benchmarks/mapping_speed.py [--frames 2000] [--reference-frames 200]

Prints medians and p99 in microseconds per frame. Inputs: random independent frames (every frame
a new face, the worst case for any warm start) and a smooth random walk (what a tracker sends).
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "mapping"))

from reference import mouth_fit_lbfgsb, mouth_target, random_arkit_frames, reference_pose  # noqa: E402

from ezvtb_node.mapping.mapper import Mapper  # noqa: E402
from ezvtb_node.mapping.mapping import load_mapping  # noqa: E402

DEFAULT_MAPPING = REPO / "mappings" / "ifacialmocap.toml"


def smooth_frames(count: int, seed: int) -> list[dict[str, float]]:
    """A random walk through face space: neighbouring frames differ a little, like real tracking."""
    start = random_arkit_frames(1, seed)[0]
    names = list(start)
    rng = np.random.default_rng(seed)
    values = np.array([start[n] for n in names])
    frames = []
    for _ in range(count):
        values = values + rng.normal(0.0, 0.02, len(values)) * np.where(
            [n.startswith("head.") for n in names], 50, 1
        )
        values = np.where(
            [n.startswith("head.") for n in names], np.clip(values, -25, 25), np.clip(values, 0, 1)
        )
        frames.append(dict(zip(names, values.tolist(), strict=True)))
    return frames


def per_call_us(
    function: Callable[[dict[str, float], int], object], frames: list[dict[str, float]]
) -> list[float]:
    for i, frame in enumerate(frames[:50]):  # warm up caches and lazy imports
        function(frame, i)
    times = []
    gc.disable()
    try:
        for i, frame in enumerate(frames):
            start = time.perf_counter_ns()
            function(frame, i)
            times.append((time.perf_counter_ns() - start) / 1000.0)
    finally:
        gc.enable()
    return times


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def p99(values: list[float]) -> float:
    return float(np.percentile(values, 99))


Row = tuple[str, str, float, float, float | None]


def measure(kind: str, frames: list[dict[str, float]], reference_count: int) -> list[Row]:
    """Rows for one kind of input: the reference, our stages, and the mouth fit alone."""
    mapping = load_mapping(DEFAULT_MAPPING)
    fit = mapping.blocks["mouth"].solver
    reference = per_call_us(lambda f, i: reference_pose(f, mouth_fit_lbfgsb), frames[:reference_count])
    open_frames = [f for f in frames if mouth_target(f) is not None]
    targets = [mouth_target(f) for f in open_frames]
    reference_fit = per_call_us(lambda f, i: mouth_fit_lbfgsb(targets[i]), open_frames[:reference_count])
    our_fit = per_call_us(lambda f, i: fit.solve(targets[i]), open_frames)
    evaluate = per_call_us(lambda f, i: mapping.evaluate(f), frames)
    unfiltered, filtered = Mapper(DEFAULT_MAPPING, filters=False), Mapper(DEFAULT_MAPPING)
    update_raw = per_call_us(lambda f, i: unfiltered.update(f, i / 60), frames)
    update_full = per_call_us(lambda f, i: filtered.update(f, i / 60), frames)
    base, base_fit = statistics.median(reference), statistics.median(reference_fit)
    return [
        (kind, "reference: formulas + scipy L-BFGS-B mouth", base, p99(reference), None),
        (
            kind,
            "Mapping.evaluate (default file, mouth incl.)",
            statistics.median(evaluate),
            p99(evaluate),
            base,
        ),
        (
            kind,
            "Mapper.update, no filter (+breathing, quantize)",
            statistics.median(update_raw),
            p99(update_raw),
            base,
        ),
        (kind, "Mapper.update with One Euro filter", statistics.median(update_full), p99(update_full), base),
        (kind, "reference mouth fit alone (L-BFGS-B)", base_fit, p99(reference_fit), None),
        (kind, "our exact vowel fit alone", statistics.median(our_fit), p99(our_fit), base_fit),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=2000)
    parser.add_argument("--reference-frames", type=int, default=200)
    args = parser.parse_args()

    rows = measure("random", random_arkit_frames(args.frames, seed=1), args.reference_frames)
    rows += measure("smooth", smooth_frames(args.frames, seed=2), args.reference_frames)

    print(
        f"# mapping speed: {DEFAULT_MAPPING.name}; {cpu_name()}, {os.cpu_count()} cores; "
        f"Python {platform.python_version()}"
    )
    print(f"# {args.frames} frames per row ({args.reference_frames} for the scipy rows); µs per frame")
    print("| inputs | what | median µs | p99 µs | speed-up vs reference |")
    print("|---|---|---:|---:|---:|")
    for kind, what, median, tail, baseline in rows:
        ratio = f"{baseline / median:,.0f}×" if baseline else "—"
        print(f"| {kind} | {what} | {median:,.1f} | {tail:,.1f} | {ratio} |")


if __name__ == "__main__":
    main()
