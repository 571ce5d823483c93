"""THA3 frames/s on GPU backends: every variant, stage timings, interpolation; CPU baseline.

    .venv/bin/python benchmarks/gpu.py [--frames 200] [--backends tensorrt,cuda,directml]
    .venv/bin/python benchmarks/gpu.py --backends onnxruntime-cpu --frames 4   # smoke run, no GPU

For each backend that runs here and each engine set that exists or can be built (separable from
the tha3 package; standard needs `engines build --weights` or `engines import`), it renders a
stream of varied poses (every stage runs every frame: caches off) and a rotation-only stream
(the intermediate cache on), and times each stage separately with the GPU synchronized after
each one. With `ezvtb_node.core.interpolation` present it also measures the core with
interpolation x2 and x4 (output frames/s). A CPU row (the core's default CPU runtime) is the
baseline of the ratio column. Prints medians and p99.

Goal on an RTX 3060-class card: separable fp16 >= 60 frames/s without interpolation, >= 120 with x2.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import statistics
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.poses import rotation_only_poses, varied_poses
from ezvtb_node.character import load_character, sample_character_path
from ezvtb_node.core import get_core
from ezvtb_node.core.backends import BackendUnavailable, make_backend
from ezvtb_node.core.models.layout import PRECISIONS, VARIANTS
from ezvtb_node.core.models.tha3_build import ensure_engine_set
from ezvtb_node.core.stage_cache import StageCache
from ezvtb_node.core.tha import STAGES, ThaPipeline


@dataclass
class Row:
    name: str
    seconds: list[float] = field(default_factory=list)
    frames_per_call: int = 1
    note: str = ""

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def p99(self) -> float:
        ordered = sorted(self.seconds)
        return ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]

    @property
    def fps(self) -> float:
        return self.frames_per_call / self.median


class SyncedRunner:
    """Waits for the GPU after each stage so that ``ThaPipeline.last_timings`` are real stage times."""

    def __init__(self, runner, synchronize):
        self._runner, self._synchronize = runner, synchronize
        self.input_names, self.output_names = runner.input_names, runner.output_names

    def run(self, feeds):
        outputs = self._runner.run(feeds)
        self._synchronize()
        return outputs


def timed(render, poses: list[np.ndarray], warmup: int = 3) -> list[float]:
    for pose in poses[:warmup]:
        render(pose)
    times = []
    for pose in poses[warmup:]:
        start = time.perf_counter()
        render(pose)
        times.append(time.perf_counter() - start)
    return times


def measure_backend(backend, engine, image, frames: int) -> tuple[list[Row], dict[str, float]]:
    runners = {stage: backend.load(engine.stage_path(stage)) for stage in STAGES}
    label = f"{backend.name} {engine.variant}/{engine.precision}"
    plain = ThaPipeline(runners, None)
    plain.set_image(image)
    rows = [Row(f"{label}, caches off, varied poses", timed(plain.render, varied_poses(frames + 3)))]
    cached = ThaPipeline(runners, StageCache(1_000_000_000))
    cached.set_image(image)
    rows.append(
        Row(f"{label}, model_cache on, rotation-only", timed(cached.render, rotation_only_poses(frames + 3)))
    )
    synchronize = getattr(backend, "synchronize", lambda: None)
    synced = ThaPipeline({s: SyncedRunner(r, synchronize) for s, r in runners.items()}, None)
    synced.set_image(image)
    stage_times: dict[str, list[float]] = {stage: [] for stage in STAGES[1:]}
    for pose in varied_poses(min(frames, 50) + 3, seed=5)[3:]:
        synced.render(pose)
        for stage in stage_times:
            stage_times[stage].append(synced.last_timings[stage])
    return rows, {stage: statistics.median(t) for stage, t in stage_times.items()}


def measure_interpolation(image, frames: int) -> list[Row]:
    if importlib.util.find_spec("ezvtb_node.core.interpolation") is None:
        return [
            Row("interpolation x2/x4", note="skipped: ezvtb_node.core.interpolation is not in this build")
        ]
    rows = []
    for scale in (2, 4):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            core = get_core(
                use_interpolation=True, interpolation_scale=scale, use_cacher=False, model_cache=False
            )
        info = core.describe()
        if not info["interpolation"].get("enabled"):
            rows.append(Row(f"interpolation x{scale}", note=f"skipped: {info['interpolation'].get('note')}"))
            continue
        core.setImage(image)
        label = f"core {info['backend']} {info['variant']}/{info['precision']} + interpolation x{scale}"
        rows.append(Row(label, timed(core.inference, varied_poses(frames + 3)), frames_per_call=scale))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--frames", type=int, default=200, help="timed frames per row (default 200)")
    parser.add_argument(
        "--backends", default="tensorrt,cuda,directml", help="comma-separated backends to try"
    )
    parser.add_argument("--device-id", type=int, default=0)
    parser.add_argument("--cpu-frames", type=int, default=6, help="frames of the CPU baseline (0: skip it)")
    args = parser.parse_args()
    image = load_character(sample_character_path())

    rows: list[Row] = []
    stage_table: list[tuple[str, dict[str, float]]] = []
    devices = set()
    for name in args.backends.split(","):
        try:
            backend = make_backend(name.strip(), args.device_id)
        except BackendUnavailable as exc:
            rows.append(Row(name, note=f"skipped: {exc}"))
            continue
        devices.add(backend.device)
        for variant in VARIANTS:
            for precision in PRECISIONS:
                try:
                    engine = ensure_engine_set(variant, precision)
                except Exception as exc:  # a missing variant is reported, not fatal
                    rows.append(Row(f"{backend.name} {variant}/{precision}", note=f"skipped: {exc}"))
                    continue
                try:
                    measured, stages = measure_backend(backend, engine, image, args.frames)
                except Exception as exc:  # e.g. fp16 graphs on a runtime without fp16 kernels
                    rows.append(Row(f"{backend.name} {variant}/{precision}", note=f"failed: {exc}"[:160]))
                    continue
                rows += measured
                stage_table.append((f"{backend.name} {variant}/{precision}", stages))
    rows += measure_interpolation(image, args.frames)

    baseline = None
    if args.cpu_frames > 0:
        cpu = (
            make_backend("openvino")
            if importlib.util.find_spec("openvino")
            else make_backend("onnxruntime-cpu")
        )
        runners = {
            stage: cpu.load(ensure_engine_set("separable", "fp32").stage_path(stage)) for stage in STAGES
        }
        pipeline = ThaPipeline(runners, None)
        pipeline.set_image(image)
        baseline = Row(
            f"baseline: {cpu.name} separable/fp32, caches off, varied",
            timed(pipeline.render, varied_poses(args.cpu_frames + 1), warmup=1),
        )
        rows.append(baseline)

    print(f"GPU: {', '.join(sorted(devices)) or 'none usable'}")
    cpu_name = platform.processor() or platform.machine()
    print(f"CPU: {cpu_name}, {os.cpu_count()} cores; Python {platform.python_version()}")
    print()
    print(f"| {'run':<62} | {'median ms':>9} | {'p99 ms':>7} | {'frames/s':>8} | {'vs CPU':>7} |")
    print(f"|{'-' * 64}|{'-' * 11}|{'-' * 9}|{'-' * 10}|{'-' * 9}|")
    for row in rows:
        if not row.seconds:
            note = row.note.splitlines()[0]
            print(f"| {row.name:<62} | {note[:110]}{'…' if len(note) > 110 else ''}")
            continue
        ratio = f"{row.fps / baseline.fps:6.1f}x" if baseline else "    -"
        times = f"{row.median * 1000:9.2f} | {row.p99 * 1000:7.2f}"
        print(f"| {row.name:<62} | {times} | {row.fps:8.1f} | {ratio:>7} |")
    if stage_table:
        print()
        print("stage medians (ms, GPU synchronized after each stage; image runs once per setImage):")
        print(f"| {'engine':<36} | " + " | ".join(f"{s:>8}" for s in STAGES[1:]) + " |")
        for label, stages in stage_table:
            print(f"| {label:<36} | " + " | ".join(f"{stages[s] * 1000:8.2f}" for s in STAGES[1:]) + " |")
    print()
    print("goal (RTX 3060-class): separable/fp16 >= 60 frames/s without interpolation, >= 120 with x2")


if __name__ == "__main__":
    main()
