"""Soak: the node replays the bundled trace at 5x for 10 minutes with the SQLite frame cacher on.

Reports RSS over time (growth after warm-up must stay < 50 MB), render errors, output steadiness
(pacer ticks, skipped ticks, lateness), then kills a second node with SIGKILL in the middle of
writing its cache and checks that the database opens and serves frames afterwards.

    .venv/bin/python benchmarks/node_soak.py [--minutes 10] [--speed 5]
"""

from __future__ import annotations

import argparse
import os
import platform
import signal
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.node_common import free_port, metrics, rss_mb, start_node, wait_rendering
from ezvtb_node.app.demo import demo_trace_path
from ezvtb_node.core.cacher.sqlite_store import SqliteStore

WARM_UP_S = 60


def soak(minutes: float, speed: float, workdir: Path) -> None:
    port = free_port()
    db = workdir / "soak.sqlite3"
    node = start_node(
        ["--replay", str(demo_trace_path()), "--replay-speed", str(speed), "--replay-loop",
         "--output", "null", "--cacher-db-path", str(db), "--no-status"],
        port,
    )  # fmt: skip
    wait_rendering(node, port)
    started = time.monotonic()
    samples: list[tuple[float, float, dict]] = []
    while time.monotonic() - started < minutes * 60:
        time.sleep(10)
        samples.append((time.monotonic() - started, rss_mb(node.pid), metrics(port)))
    node.send_signal(signal.SIGTERM)
    _, stderr = node.communicate(timeout=30)
    # The intermediate cache (model_cache_size) and the frame cacher's RAM tier (cacher_ram_size) grow
    # by design until their byte bounds; what matters is growth they do not account for.
    warm = [s for s in samples if s[0] >= WARM_UP_S] or samples
    first, end = warm[0], samples[-1]
    pacer = end[2]["output"]["pacer"]
    fps = [s[2]["render"]["fps"] for s in warm]
    growth = end[1] - first[1]
    cache_growth = (cache_bytes(end[2]) - cache_bytes(first[2])) / 2**20
    rows = [
        (f"duration ({speed}x replay, cacher on SQLite)", f"{minutes} min"),
        (f"RSS after warm-up ({WARM_UP_S} s) / at the end", f"{first[1]:.0f} / {end[1]:.0f} MB"),
        ("RSS growth after warm-up", f"{growth:+.1f} MB"),
        ("  of which bounded caches (intermediate + frame RAM tier)", f"{cache_growth:+.1f} MB"),
        ("  growth not held by the caches", f"{growth - cache_growth:+.1f} MB"),
        (
            "THA3 frames rendered / render errors",
            f"{end[2]['render']['frames']} / {end[2]['render']['errors']}",
        ),
        ("render ms p50 / p99 (last 600)", f"{end[2]['render']['ms_p50']} / {end[2]['render']['ms_p99']}"),
        (
            "render fps per 10 s: median (min/max)",
            f"{statistics.median(fps):.2f} ({min(fps):.2f}/{max(fps):.2f})",
        ),
        (
            "pacer ticks / skipped / lateness p99",
            f"{pacer['ticks']} / {pacer['skipped_ticks']} / {pacer['lateness_ms_p99']} ms",
        ),
        ("frame cache hit rate", f"{end[2]['cache']['hit_rate']:.1%}"),
        ("exit code after SIGTERM", str(node.returncode)),
        (
            "ERROR / Traceback lines in stderr",
            str(sum("ERROR" in x or "Traceback" in x for x in stderr.splitlines())),
        ),
    ]
    print("| measure | value |")
    print("|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")


def cache_bytes(snapshot: dict) -> int:
    cache = snapshot["cache"]
    return (cache["frame_cacher"] or {}).get("bytes", 0) + (cache["model_cache"] or {}).get("bytes", 0)


def kill_mid_write(workdir: Path) -> None:
    port = free_port()
    db = workdir / "killed.sqlite3"
    node = start_node(
        ["--replay", str(demo_trace_path()), "--replay-speed", "5", "--replay-loop", "--output", "null",
         "--cacher-db-path", str(db), "--no-status"],
        port,
    )  # fmt: skip
    wait_rendering(node, port)
    time.sleep(20)
    node.send_signal(signal.SIGKILL)
    node.wait()
    store = SqliteStore(db, 4 * 10**9)
    try:
        entries, stored_bytes = store.totals()
    finally:
        store.close()
    with sqlite3.connect(db) as connection:
        integrity = connection.execute("PRAGMA integrity_check").fetchone()[0]
    state = f"reopened: {entries} frames, {stored_bytes / 1e6:.1f} MB, integrity {integrity}"
    print(f"| SIGKILL after 20 s of writing its cache | {state} |")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--speed", type=float, default=5.0)
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory() as tmp:
        soak(args.minutes, args.speed, Path(tmp))
        kill_mid_write(Path(tmp))


if __name__ == "__main__":
    main()
