"""Pacing jitter: how close to its deadlines the pacer emits, against a naive sleep loop.

Run: .venv/bin/python benchmarks/outputs_pacing.py [--seconds 60] [--baseline-seconds 20]

The pacer runs at 60 fps for --seconds while a feeder thread submits batches of 2 frames (512²
BGRA, as a 30 fps render with 2x interpolation would) and every emitted frame goes to an open null
sink (the real fan-out path). Reported: deviation of each emit from its absolute deadline
(p50/p99/max), the spacing between consecutive emits, the rate actually achieved, ticks skipped,
and the cost of submit (it copies the batch). The baseline, measured in the same run, is the loop
people write first: emit, then ``time.sleep(1/60)``; its error accumulates, so its deviation is
measured against the ideal ``t0 + k/60`` schedule too.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time

import numpy as np

from ezvtb_node.outputs.null import NullSink
from ezvtb_node.outputs.pacing import Pacer
from ezvtb_node.percentiles import percentile_ms

FPS = 60.0
SIZE = 512


def run_pacer(seconds: float) -> dict:
    sink = NullSink()
    sink.open(SIZE, SIZE)
    emits: list[float] = []

    def emit(frame: np.ndarray) -> None:
        emits.append(time.monotonic())
        sink.send(frame)

    batch = [np.zeros((SIZE, SIZE, 4), np.uint8) for _ in range(2)]
    submit_costs: list[float] = []
    stop = threading.Event()

    def feed() -> None:
        began, k = time.monotonic(), 0
        while not stop.is_set():
            k += 1
            stop.wait(max(0.0, began + k / 30.0 - time.monotonic()))
            t = time.perf_counter()
            pacer.submit(batch)
            submit_costs.append(time.perf_counter() - t)

    pacer = Pacer(emit, fps=FPS)
    feeder = threading.Thread(target=feed, daemon=True)
    with pacer:
        feeder.start()
        time.sleep(seconds)
        stop.set()
    feeder.join()
    sink.close()
    stats = pacer.stats()
    lateness = pacer.lateness_samples()
    return {
        "late": lateness,
        "spacing": np.diff(emits).tolist(),
        "rate": (len(emits) - 1) / (emits[-1] - emits[0]),
        "skipped": stats["skipped_ticks"],
        "submit_ms": statistics.median(submit_costs) * 1e3,
        "emits": len(emits),
    }


def run_naive(seconds: float) -> dict:
    sink = NullSink()
    sink.open(SIZE, SIZE)
    frame = np.zeros((SIZE, SIZE, 4), np.uint8)
    began = time.monotonic()
    emits: list[float] = []
    while (now := time.monotonic()) < began + seconds:
        emits.append(now)
        sink.send(frame)
        time.sleep(1 / FPS)
    sink.close()
    # Deviation from the schedule the loop was meant to keep: t0 + k / fps.
    late = [t - (emits[0] + k / FPS) for k, t in enumerate(emits)]
    return {
        "late": late,
        "spacing": np.diff(emits).tolist(),
        "rate": (len(emits) - 1) / (emits[-1] - emits[0]),
        "skipped": 0,
        "submit_ms": float("nan"),
        "emits": len(emits),
    }


def deviation_row(name: str, result: dict, baseline_p99: float | None) -> str:
    late = [abs(x) for x in result["late"]]
    spacing_error = [abs(s - 1 / FPS) for s in result["spacing"]]
    p99 = percentile_ms(late, 99)
    ratio = f"{p99 / baseline_p99:.3f}" if baseline_p99 else "1"
    return (
        f"{name:<16}{result['emits']:>7}{result['rate']:>9.3f}{percentile_ms(late, 50):>10.3f}{p99:>10.3f}"
        f"{max(late) * 1e3:>10.2f}"
        f"{percentile_ms(spacing_error, 50):>10.3f}{percentile_ms(spacing_error, 99):>10.3f}"
        f"{result['skipped']:>8}{result['submit_ms']:>10.3f}{ratio:>9}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=60.0, help="how long the pacer runs")
    parser.add_argument("--baseline-seconds", type=float, default=20.0, help="how long the naive loop runs")
    args = parser.parse_args()
    naive = run_naive(args.baseline_seconds)
    paced = run_pacer(args.seconds)
    print(f"Pacing at {FPS:g} fps: |emit - deadline| and |spacing - 1/{FPS:g} s|, ms (p99 ratio vs naive)")
    print(
        f"{'loop':<16}{'emits':>7}{'fps':>9}{'dev p50':>10}{'dev p99':>10}{'dev max':>10}"
        f"{'gap p50':>10}{'gap p99':>10}{'skipped':>8}{'submit':>10}{'x naive':>9}"
    )
    naive_p99 = percentile_ms([abs(x) for x in naive["late"]], 99)
    print(deviation_row(f"naive {args.baseline_seconds:g} s", naive, None))
    print(deviation_row(f"Pacer {args.seconds:g} s", paced, naive_p99))
    return 0


if __name__ == "__main__":
    sys.exit(main())
