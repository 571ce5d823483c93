"""Core frames/s on the CPU vs the reference THA3 poser (torch), same poses, same run.

    .venv/bin/python benchmarks/core_cpu.py [--frames 12] [--fp16]

Rows: the reference poser of the `tha3` package; our core with both caches off on each CPU
runtime; with the intermediate cache on/off on a rotation-only pose stream (head turns while the
expression holds, the common case while streaming). Prints medians in ms/frame and ratios.
With --fp16, also builds the fp16 engine and states its max difference from the reference.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.poses import rotation_only_poses, varied_poses
from ezvtb_node.character import load_character, sample_character_path
from ezvtb_node.core import get_core
from ezvtb_node.core.models.tha3_build import ensure_engine_set
from tests.core.reference import reference_frame


def time_core(core, poses) -> list[float]:
    core.inference(poses[0])  # warm-up (first run allocates)
    times = []
    for pose in poses[1:]:
        start = time.perf_counter()
        core.inference(pose)
        times.append(time.perf_counter() - start)
    return times


def make_core(**options):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        core = get_core(use_interpolation=False, use_cacher=False, **options)
    core.setImage(load_character(sample_character_path()))
    return core


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--frames", type=int, default=12)
    parser.add_argument("--fp16", action="store_true", help="also measure the fp16 engine's fidelity")
    args = parser.parse_args()
    character = sample_character_path()
    varied = varied_poses(args.frames + 1)
    rotation = rotation_only_poses(args.frames + 1)

    rows: list[tuple[str, list[float]]] = []
    reference_times = []
    for pose in varied[: max(4, args.frames // 2)]:
        start = time.perf_counter()
        reference_frame(character, pose)
        reference_times.append(time.perf_counter() - start)
    rows.append(("reference tha3 poser (torch), varied poses", reference_times[1:]))

    for cpu_backend in ("onnxruntime", "openvino"):
        core = make_core(model_cache=False, model_half=False, cpu_backend=cpu_backend)
        rows.append((f"core {cpu_backend}, caches off, varied poses", time_core(core, varied)))
    best = make_core(model_cache=False, model_half=False)
    rows.append(("core default, caches off, rotation-only", time_core(best, rotation)))
    cached = make_core(model_cache=True, model_half=False)
    rows.append(("core default, model_cache on, rotation-only", time_core(cached, rotation)))

    fidelity = [
        np.abs(cached.inference(p)[0].astype(int) - reference_frame(character, p).astype(int)).max()
        for p in varied[:3]
    ]

    baseline = statistics.median(rows[0][1])
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}"
    )
    print(f"backend of 'core default': {cached.describe()['backend']}")
    print()
    print(f"| {'run':<48} | {'median ms/frame':>15} | {'frames/s':>8} | {'vs reference':>12} |")
    print(f"|{'-' * 50}|{'-' * 17}|{'-' * 10}|{'-' * 14}|")
    for name, times in rows:
        median = statistics.median(times)
        print(f"| {name:<48} | {median * 1000:15.1f} | {1 / median:8.2f} | {baseline / median:11.2f}x |")
    off = statistics.median(rows[-2][1])
    on = statistics.median(rows[-1][1])
    print()
    print(f"model_cache on vs off on a rotation-only stream: {off / on:.2f}x")
    print(f"fp32 max |diff| vs reference on 3 varied poses: {max(fidelity)}/255")
    if args.fp16:
        engine = ensure_engine_set("separable", "fp16")
        for cpu_backend in ("onnxruntime", "openvino"):
            try:
                half = make_core(model_cache=False, model_dir=str(engine.path), cpu_backend=cpu_backend)
                diffs = [
                    np.abs(half.inference(p)[0].astype(int) - reference_frame(character, p).astype(int)).max()
                    for p in varied[:3]
                ]
                times = time_core(half, varied[:4])
                print(
                    f"fp16 engine on {cpu_backend}: max |diff| vs reference {max(diffs)}/255, "
                    f"{statistics.median(times) * 1000:.0f} ms/frame"
                )
            except Exception as exc:  # report, do not hide: some CPU runtimes lack fp16 kernels
                print(f"fp16 engine on {cpu_backend}: does not run ({str(exc).splitlines()[0][:120]})")


if __name__ == "__main__":
    main()
