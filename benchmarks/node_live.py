"""A live run: `ezvtb-node run` rendering a moving VMC performance, numbers from its own /metrics.

`examples/vmc_sender.py` streams an animated performance at 60 Hz over UDP (head turn, talking,
blinks, a smile that comes and goes), so nearly every packet is a new pose and THA3 renders it
(frame-cache misses). For each configuration the node is started fresh, warms up on idle frames,
then the sender streams for ``--seconds``. Reported, from /metrics: render fps (frames rendered
over the window), render ms p50/p99, tracking packet arrival -> its frame handed to the outputs
p50/p99 (every tracked frame of the window: the node is warm before the first packet), the frame
cache's hit rate, and the backend (device) and THA3 variant/precision the node ran on (from
/metrics: a GPU machine that fell back to the CPU shows it here). Rows: interpolation off / x2,
with the CPU runtime on 2 threads and on 1 (``cpu_threads``, ignored by GPU backends); ratios
against the first row, same run.

    .venv/bin/python benchmarks/node_live.py [--seconds 45] [--threads 2,1]
"""

from __future__ import annotations

import argparse
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.node_common import ROOT, free_port, metrics, start_node, wait_rendering

IDLE_WARM_UP_RENDERS = 12  # idle renders before the first packet: compiled, allocated, warm


def measure(seconds: float, interpolation: bool, threads: int, folder: Path) -> dict:
    control, vmc = free_port(), free_port(socket.SOCK_DGRAM)
    args = ["--vmc", f"127.0.0.1:{vmc}", "--output", "null", "--no-status", "--cpu-threads", str(threads),
            "--cacher-db-path", str(folder / f"live-{interpolation}-{threads}.sqlite3")]  # fmt: skip
    if not interpolation:
        args.append("--no-use-interpolation")
    node = start_node(args, control)
    try:
        wait_rendering(node, control)
        while metrics(control)["render"]["frames"] < IDLE_WARM_UP_RENDERS:
            time.sleep(0.2)
        before = metrics(control)
        started = time.monotonic()
        subprocess.run(
            [sys.executable, str(ROOT / "examples" / "vmc_sender.py"), "--port", str(vmc),
             "--duration", str(seconds), "--turn-period", "4"],
            check=True, capture_output=True, timeout=seconds + 120,
        )  # fmt: skip
        after = metrics(control)
        elapsed = time.monotonic() - started
    finally:
        node.terminate()
        node.wait(timeout=120)
    return {
        "render_fps": (after["render"]["frames"] - before["render"]["frames"]) / elapsed,
        "render_p50": after["render"]["ms_p50"],
        "render_p99": after["render"]["ms_p99"],
        "latency": after["latency_ms"],
        "output_fps": after["output"]["fps_target"],
        "hit_rate": after["cache"]["hit_rate"],
        "errors": after["render"]["errors"],
        "core": after["core"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=45.0, help="streaming time per row")
    parser.add_argument("--threads", default="2,1", help="cpu_threads values, the first is the baseline")
    args = parser.parse_args()
    counts = [int(t) for t in args.threads.split(",")]
    configs = [(False, counts[0]), (True, counts[0])] + [(i, n) for n in counts[1:] for i in (False, True)]
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, "
        f"load average at start {os.getloadavg()[0]:.1f}; {args.seconds:g} s of streaming per row"
    )
    print()
    print("| interpolation | cpu_threads | backend (device) | THA3 | render fps | render ms p50 / p99 "
          "| latency p50 / p99 (samples) | frame-cache hits | render fps vs first row |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|")
    first = None
    with tempfile.TemporaryDirectory() as tmp:
        for interpolation, threads in configs:
            r = measure(args.seconds, interpolation, threads, Path(tmp))
            first = first or r["render_fps"]
            lat = r["latency"]
            core = r["core"]
            print(
                f"| {'x2' if interpolation else 'off'} | {threads} | {core['backend']} ({core['device']}) | "
                f"{core['variant']}/{core['precision']} | {r['render_fps']:.2f} | "
                f"{r['render_p50']:.0f} / {r['render_p99']:.0f} ms | "
                f"{lat['p50']:.0f} / {lat['p99']:.0f} ms ({lat['samples']}) | {r['hit_rate']:.1%} | "
                f"{r['render_fps'] / first:.2f}x |"
            )
            if r["errors"]:
                print(f"  (render errors: {r['errors']})")


if __name__ == "__main__":
    main()
