"""What a sender's junk clip names cost the next frames (issue 18: 20,000 junk names made decoding
a frame 6× slower and every frame 20,008 channels before clip names were capped).

    .venv/bin/python benchmarks/vmc_junk_names.py [--repeats 7] [--junk 20000]

A VSeeFace-like frame (benchmarks/inputs_throughput.py) decoded by a fresh VmcDecoder (the
baseline) and by one that first received ``--junk`` distinct clip names from the same sender, in the
same run; per-frame times are the thread's CPU time, medians over ``--repeats`` runs of 300 frames.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

from inputs_throughput import _bundles, _osc_message, vseeface_like_frame
from mapping_speed import cpu_name

from ezvtb_node.inputs.vmc import MAX_BLEND_NAMES, VmcDecoder

FRAMES = 300


def junk_datagrams(count: int) -> list[bytes]:
    names = [_osc_message("/VMC/Ext/Blend/Val", "sf", f"junk_clip_{i}", 0.5) for i in range(count)]
    return _bundles([*names, _osc_message("/VMC/Ext/Blend/Apply", "")])


def frame_cost(decoder: VmcDecoder, datagrams: list[bytes]) -> tuple[float, int]:
    """(µs of CPU per frame, channels in the last frame)."""
    start = time.thread_time()
    for _ in range(FRAMES):
        for datagram in datagrams:
            frames = decoder.feed(datagram, 0.0)
    return (time.thread_time() - start) / FRAMES * 1e6, len(frames[-1].channels)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--junk", type=int, default=20000)
    args = parser.parse_args()
    datagrams, messages = vseeface_like_frame(0.0)
    junk = junk_datagrams(args.junk)
    rows = {"fresh decoder (baseline)": [], f"after {args.junk:,} junk clip names": []}
    channels = {}
    for _ in range(args.repeats):
        for label in rows:
            decoder = VmcDecoder()
            if label != "fresh decoder (baseline)":
                for datagram in junk:
                    decoder.feed(datagram, 0.0)
            cost, channels[label] = frame_cost(decoder, datagrams)
            rows[label].append(cost)
    print(f"CPU: {cpu_name()} ({platform.machine()}), Python {platform.python_version()}")
    print(
        f"VSeeFace-like frame: {messages} messages in {len(datagrams)} datagrams; cap {MAX_BLEND_NAMES} names"
    )
    print(f"median of {args.repeats} runs of {FRAMES} frames\n")
    baseline = statistics.median(rows["fresh decoder (baseline)"])
    print("| decoder | µs per frame | vs baseline | channels per frame |\n|---|---|---|---|")
    for label, costs in rows.items():
        median = statistics.median(costs)
        print(f"| {label} | {median:.0f} | {median / baseline:.2f}× | {channels[label]} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
