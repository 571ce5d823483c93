"""Interpolation quality and speed on THA3-rendered sequences.

For every case in interp_sequences.CASES and every scale (×2, ×3, ×4), the in-between frames made
from the two end frames are compared with the frames THA3 itself renders at the in-between poses:
PSNR of colour (premultiplied by alpha, i.e. composited on black, so hidden colour under alpha 0
does not count) and of alpha, for the embedded flow interpolator and a plain cross-fade baseline.
Then the time per in-between frame (median and p99 over repeated runs).

    .venv/bin/python benchmarks/interp_quality.py [--repeat 50]
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np
from interp_sequences import rendered_cases  # benchmarks/ is on sys.path when run as a script

from ezvtb_node.core.interpolation import CrossFadeInterpolator, FlowInterpolator, intermediate_times


def machine_description() -> str:
    """CPU model, core count and load: the machine is shared, so the load says how noisy timings are."""
    model = platform.processor() or platform.machine()
    cpuinfo = "/proc/cpuinfo"
    if os.path.exists(cpuinfo):
        with open(cpuinfo) as info:
            model = next(
                (line.split(":", 1)[1].strip() for line in info if line.startswith("model name")), model
            )
    load = f", load average {os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else ""
    return f"{model}, {os.cpu_count()} cores{load}, Python {platform.python_version()}"


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(255.0**2 / mse)


def premultiplied(frame: np.ndarray) -> np.ndarray:
    return frame[:, :, :3].astype(np.float32) * (frame[:, :, 3:4].astype(np.float32) / 255.0)


def quality(interp_cls, scale: int, cases) -> tuple[float, float]:
    """Mean colour PSNR and alpha PSNR over all cases and in-between times."""
    interp = interp_cls(scale)
    rgb, alpha = [], []
    for case in cases:
        frames = case.frames
        got = interp.interpolate(frames[0], frames[1])
        for t, frame in zip(intermediate_times(scale), got, strict=True):
            want = next(f for key, f in frames.items() if abs(float(key) - t) < 1e-9)
            rgb.append(psnr(premultiplied(frame), premultiplied(want)))
            alpha.append(psnr(frame[:, :, 3], want[:, :, 3]))
    return float(np.mean(rgb)), float(np.mean(alpha))


def per_case(scale: int, cases) -> list[tuple[str, float, float]]:
    flow, fade = FlowInterpolator(scale), CrossFadeInterpolator(scale)
    rows = []
    for case in cases:
        t = intermediate_times(scale)[0]
        want = next(f for key, f in case.frames.items() if abs(float(key) - t) < 1e-9)
        scores = [psnr(premultiplied(i.interpolate(case.frames[0], case.frames[1])[0]), premultiplied(want))
                  for i in (flow, fade)]  # fmt: skip
        rows.append((case.name, *scores))
    return rows


def measure_ms(call, repeat: int) -> tuple[float, float, float]:
    """Median and p99 wall-clock ms of `call(i)`, and median CPU ms summed over threads (less
    sensitive to other jobs on a shared machine). One warm-up call first."""
    call(0)
    wall, cpu = [], []
    for i in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        call(i)
        wall.append((time.perf_counter() - start) * 1000.0)
        cpu.append((time.process_time() - start_cpu) * 1000.0)
    return float(np.median(wall)), float(np.percentile(wall, 99)), float(np.median(cpu))


def timing(interp_cls, scale: int, cases, repeat: int) -> tuple[float, float, float]:
    """measure_ms of one interpolate() call, per in-between frame (divided by scale − 1)."""
    interp = interp_cls(scale)
    pairs = [(c.frames[0], c.frames[1]) for c in cases]
    numbers = measure_ms(lambda i: interp.interpolate(*pairs[i % len(pairs)]), repeat)
    return tuple(n / (scale - 1) for n in numbers)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=60, help="timed calls per scale and method")
    args = parser.parse_args()
    cases = rendered_cases()
    print(
        f"machine: {machine_description()}; {len(cases)} THA3 cases (medians; shared machine, expect noise)"
    )
    print()
    print("| scale | method | PSNR colour (dB) | PSNR alpha (dB) | ms / in-between (median) | p99 | CPU ms |")
    print("|---|---|---|---|---|---|---|")
    for scale in (2, 3, 4):
        results = {}
        for name, cls in (("flow (embedded)", FlowInterpolator), ("cross-fade", CrossFadeInterpolator)):
            results[name] = (*quality(cls, scale, cases), *timing(cls, scale, cases, args.repeat))
            rgb, alpha, median, p99, cpu = results[name]
            print(f"| x{scale} | {name} | {rgb:.2f} | {alpha:.2f} | {median:.2f} | {p99:.2f} | {cpu:.2f} |")
        gain = [f - c for f, c in zip(results["flow (embedded)"][:2], results["cross-fade"][:2], strict=True)]
        print(f"| x{scale} | gain flow − cross-fade | {gain[0]:+.2f} | {gain[1]:+.2f} | | | |")
    print()
    print("Per case, x2 (t = 1/2), colour PSNR dB:")
    print("| case | flow | cross-fade | gain |")
    print("|---|---|---|---|")
    for name, flow, fade in per_case(2, cases):
        print(f"| {name} | {flow:.2f} | {fade:.2f} | {flow - fade:+.2f} |")


if __name__ == "__main__":
    main()
