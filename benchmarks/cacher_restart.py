"""A second process on a warmed cache database: time to open it and hit rate of its first lookups.

Process 1 (this script) warms a database with the poses of a take; process 2 (a fresh interpreter,
cold Python caches, its own SQLite connection) opens it and looks every pose up once.

    .venv/bin/python benchmarks/cacher_restart.py [--seconds 20]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from cacher_common import percentile_ms, performance, sample_characters

from ezvtb_node.core.cacher import FrameCacher, image_digest, warm

ENGINE = "bench-engine"


def second_process(db: str, poses_file: str, digest: str) -> None:
    started = time.perf_counter()
    cacher = FrameCacher(on_database=True, quality=85, ram_size_gb=2.0, db_path=db)
    cacher.set_context(digest, ENGINE)
    opened = time.perf_counter() - started
    poses = np.load(poses_file)
    times, hits = [], 0
    for pose in poses:
        start = time.perf_counter()
        hits += cacher.get(pose.reshape(1, 45)) is not None
        times.append(time.perf_counter() - start)
    cacher.close()
    print(json.dumps({"open_s": opened, "first_lookup_ms": times[0] * 1e3, "times": times, "hits": hits}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    frames = sample_characters()
    take = performance(args.seconds, seed=5, still=0.6)
    digest = image_digest(frames[0])
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "frames.db"
        with FrameCacher(True, 85, 2.0, db) as cacher:
            cacher.set_context(digest, ENGINE)
            counter = iter(range(10**9))
            result = warm(cacher, lambda pose: frames[next(counter) % len(frames)], take, progress=False)
        poses_file = Path(tmp) / "poses.npy"
        np.save(poses_file, take)
        out = subprocess.run(
            [sys.executable, __file__, "--child", str(db), str(poses_file), digest],
            capture_output=True,
            text=True,
            check=True,
        )
        child = json.loads(out.stdout)
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
    print(
        f"warmed {result.rendered} distinct frames (q85, SQLite) from a {len(take)}-pose take; "
        f"a second process looked up all {len(take)} poses once each\n"
    )
    print("| open FrameCacher | first lookup | lookups: median / p99 | first-pass hit rate |")
    print("|---|---|---|---|")
    print(
        f"| {child['open_s'] * 1e3:.1f} ms | {child['first_lookup_ms']:.2f} ms "
        f"| {percentile_ms(child['times'], 50):.2f} / {percentile_ms(child['times'], 99):.2f} ms "
        f"| {child['hits'] / len(take):.1%} |"
    )


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--child":
        second_process(*sys.argv[2:])
    else:
        main()
