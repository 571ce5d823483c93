"""``ezvtb-node outputs test``: stream a test pattern to an output, to check it without the renderer."""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from ezvtb_node.outputs import SPEC_HELP, Pacer, make_sink

# Red, green, blue, white in BGRA order: a red/blue swap anywhere downstream is visible at once.
_BANDS_BGRA = ((0, 0, 255), (0, 255, 0), (255, 0, 0), (255, 255, 255))


def test_pattern(size: int, phase: float) -> np.ndarray:
    """Four colour bands fading from opaque (top) to transparent (bottom), a black bar sweeping across."""
    frame = np.empty((size, size, 4), np.uint8)
    for index, colour in enumerate(_BANDS_BGRA):
        frame[:, index * size // 4 : (index + 1) * size // 4, :3] = colour
    frame[..., 3] = np.linspace(255, 0, size).round().astype(np.uint8)[:, None]
    bar = int(phase * size) % size
    frame[:, bar : bar + max(2, size // 64)] = (0, 0, 0, 255)
    return frame


def run_test(args: argparse.Namespace) -> int:
    if args.size < 16 or args.seconds <= 0:
        raise ValueError(
            f"--size must be at least 16 and --seconds positive, got {args.size} and {args.seconds}"
        )
    sink = make_sink(args.output, fps=args.fps, premultiplied=args.premultiplied)
    sink.open(args.size, args.size)
    pacer = Pacer(sink.send, fps=args.fps)
    if sink.url is not None:
        print(f"open {sink.url} (add ?debug for the status panel)", flush=True)
    try:
        pacer.start()
        began = time.monotonic()
        # Render at 30 batches/s of 2 frames, like a core with 2x interpolation.
        batches = 0
        while (now := time.monotonic()) < began + args.seconds:
            phase = (now - began) / 4.0
            pacer.submit([test_pattern(args.size, phase - 1 / 240), test_pattern(args.size, phase)])
            batches += 1
            time.sleep(max(0.0, began + batches / 30 - time.monotonic()))
    finally:
        pacer.stop()
        sink.close()
    print(json.dumps({"pacer": pacer.stats(), "output": sink.stats()}, default=str))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    outputs = subparsers.add_parser("outputs", help="check frame outputs (Spout, browser source, files)")
    commands = outputs.add_subparsers(dest="outputs_command", metavar="COMMAND")
    commands.required = True
    test = commands.add_parser(
        "test",
        help="stream a moving test pattern with alpha to an output",
        description="Stream a test pattern (red, green, blue, white bands fading to transparent, a moving "
        "bar) through the pacer to an output, then print its statistics as JSON.",
    )
    test.add_argument("--output", default="browser", help=f"where to send it: {SPEC_HELP} (default: browser)")
    test.add_argument("--seconds", type=float, default=30.0, help="how long to stream (default: 30)")
    test.add_argument("--size", type=int, default=512, help="frame width and height (default: 512)")
    test.add_argument("--fps", type=float, default=60.0, help="output rate (default: 60)")
    test.add_argument(
        "--premultiplied",
        action="store_true",
        help="Spout only: send premultiplied alpha (default: straight)",
    )
    test.set_defaults(handler=run_test)
