"""Core frames/s on the CPU vs the reference THA3 poser (torch), same poses, same run.

    .venv/bin/python benchmarks/core_cpu.py [--frames 12] [--fp16] [--threads 1,2]

Rows: the reference poser of the `tha3` package; our core with both caches off on each CPU
runtime, on engines with the output convolutions merged (engine format 3, the default) and kept
apart (format 2's graphs, exported into a temporary folder for this run), timed in alternation;
with the intermediate cache on/off on a rotation-only pose stream (head turns while the expression
holds, the common case while streaming). Prints medians in ms/frame and ratios, per stage for the
merge. With --fp16, also builds the fp16 engine and states its max difference from the reference.
With --threads, the default core's frame and stage times for each number of CPU threads
(the ``cpu_threads`` option).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.poses import rotation_only_poses, varied_poses
from ezvtb_node.character import load_character, sample_character_path
from ezvtb_node.core import get_core
from ezvtb_node.core.models.tha3_build import build_engine_set, ensure_engine_set
from tests.core.reference import reference_frame

STAGES = ("eyebrow", "face", "body")  # the image stage runs once per setImage, not per frame


def time_core(core, poses) -> list[float]:
    core.inference(poses[0])  # warm-up (first run allocates)
    times = []
    for pose in poses[1:]:
        start = time.perf_counter()
        core.inference(pose)
        times.append(time.perf_counter() - start)
    return times


def time_alternating(cores: list, poses) -> tuple[list[list[float]], list[dict[str, list[float]]]]:
    """Frame times and per-stage ms of several cores, one pose each in turn (a shared machine's
    load then falls on all of them alike). The per-stage lists also hold ``"cpu"``: the process's
    CPU seconds per frame (all threads), which other processes' load barely moves."""
    for core in cores:
        core.inference(poses[0])
    frames: list[list[float]] = [[] for _ in cores]
    stages: list[dict[str, list[float]]] = [{s: [] for s in (*STAGES, "cpu")} for _ in cores]
    for pose in poses[1:]:
        for k, core in enumerate(cores):
            cpu, start = time.process_time(), time.perf_counter()
            core.inference(pose)
            frames[k].append(time.perf_counter() - start)
            stages[k]["cpu"].append(time.process_time() - cpu)
            for stage in STAGES:
                stages[k][stage].append(core.stats()["last_stage_ms"][stage])
    return frames, stages


def make_core(**options):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        core = get_core(use_interpolation=False, use_cacher=False, **options)
    core.setImage(load_character(sample_character_path()))
    return core


def max_diff(a: np.ndarray, b: np.ndarray) -> int:
    return int(np.abs(a.astype(int) - b.astype(int)).max())


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--frames", type=int, default=12)
    parser.add_argument("--fp16", action="store_true", help="also measure the fp16 engine's fidelity")
    parser.add_argument("--threads", default="", help="comma-separated cpu_threads values to compare")
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

    merged_engine = ensure_engine_set("separable", "fp32")
    scratch = tempfile.TemporaryDirectory(prefix="ezvtb-unmerged-")
    unmerged_engine = build_engine_set(
        "separable", "fp32", None, Path(scratch.name) / "fp32", progress=False, merge_convs=False
    )
    merge_rows = []
    for cpu_backend in ("onnxruntime", "openvino"):
        pair = [
            make_core(model_cache=False, model_dir=str(engine.path), cpu_backend=cpu_backend)
            for engine in (unmerged_engine, merged_engine)
        ]
        frames, stages = time_alternating(pair, varied)
        rows.append((f"core {cpu_backend}, caches off, varied, unmerged", frames[0]))
        rows.append((f"core {cpu_backend}, caches off, varied, merged", frames[1]))
        same = max(max_diff(pair[0].inference(p)[0], pair[1].inference(p)[0]) for p in varied[:3])
        merge_rows.append((cpu_backend, frames, stages, same))
    best = make_core(model_cache=False, model_half=False)
    rows.append(("core default, caches off, rotation-only", time_core(best, rotation)))
    cached = make_core(model_cache=True, model_half=False)
    rows.append(("core default, model_cache on, rotation-only", time_core(cached, rotation)))

    fidelity = [max_diff(cached.inference(p)[0], reference_frame(character, p)) for p in varied[:3]]

    baseline = statistics.median(rows[0][1])
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, load average now {os.getloadavg()[0]:.1f}"
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
    print("Merged output convolutions (engine format 3) vs apart (format 2), same run, in alternation:")
    print()
    print("| runtime | part | unmerged ms | merged ms | merged speed-up | max |diff| merged vs unmerged |")
    print("|---|---|---|---|---|---|")
    for cpu_backend, frames, stages, same in merge_rows:
        parts = [("frame", frames[0], frames[1], 1000.0)]
        parts += [(stage, stages[0][stage], stages[1][stage], 1.0) for stage in STAGES]
        parts += [("frame, CPU time (all threads)", stages[0]["cpu"], stages[1]["cpu"], 1000.0)]
        for k, (part, before, after, scale) in enumerate(parts):
            b, a = statistics.median(before) * scale, statistics.median(after) * scale
            diff = f"{same}/255" if k == 0 else ""
            print(f"| {cpu_backend} | {part} | {b:.1f} | {a:.1f} | {b / a:.2f}x | {diff} |")
    print()
    print(f"model_cache on vs off on a rotation-only stream: {off / on:.2f}x")
    print(f"fp32 max |diff| vs reference on 3 varied poses (merged engine): {max(fidelity)}/255")
    if args.threads:
        counts = [int(t) for t in args.threads.split(",")]
        cores = [make_core(model_cache=False, model_half=False, cpu_threads=n) for n in counts]
        frames, stages = time_alternating(cores, varied)
        first = statistics.median(frames[0])
        print()
        print("CPU threads (cpu_threads), default core, caches off, varied poses, in alternation:")
        print()
        print(
            "| cpu_threads | ms / frame | eyebrow ms | face ms | body ms | CPU ms / frame (all threads) "
            f"| vs {counts[0]} thread(s) |"
        )
        print("|---|---|---|---|---|---|---|")
        for n, times, per_stage in zip(counts, frames, stages, strict=True):
            median = statistics.median(times)
            cells = " | ".join(f"{statistics.median(per_stage[s]):.1f}" for s in STAGES)
            cpu = statistics.median(per_stage["cpu"]) * 1000
            print(f"| {n} | {median * 1000:.1f} | {cells} | {cpu:.0f} | {first / median:.2f}x |")
    if args.fp16:
        engine = ensure_engine_set("separable", "fp16")
        for cpu_backend in ("onnxruntime", "openvino"):
            try:
                half = make_core(model_cache=False, model_dir=str(engine.path), cpu_backend=cpu_backend)
                diffs = [max_diff(half.inference(p)[0], reference_frame(character, p)) for p in varied[:3]]
                times = time_core(half, varied[:4])
                print(
                    f"fp16 engine on {cpu_backend}: max |diff| vs reference {max(diffs)}/255, "
                    f"{statistics.median(times) * 1000:.0f} ms/frame"
                )
            except Exception as exc:  # report, do not hide: some CPU runtimes lack fp16 kernels
                print(f"fp16 engine on {cpu_backend}: does not run ({str(exc).splitlines()[0][:120]})")
    scratch.cleanup()


if __name__ == "__main__":
    main()
