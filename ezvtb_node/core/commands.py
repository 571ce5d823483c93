"""CLI: `engines build|list`, `demo`."""

from __future__ import annotations

import argparse
import importlib.util
import json
from pathlib import Path

from ezvtb_node.core.engines import PRECISIONS, VARIANTS, ensure_engine_set, list_engine_sets


def register(subparsers) -> None:
    engines = subparsers.add_parser("engines", help="build, list and import model files (THA3, RIFE, SR)")
    engine_commands = engines.add_subparsers(dest="engines_command", metavar="ACTION")
    engine_commands.required = True

    build = engine_commands.add_parser(
        "build",
        help="export THA3 weights to the staged ONNX graphs",
        description="Export THA3 weights to ONNX. separable_float comes with the tha3 package; other "
        "variants need --weights pointing at the official release folder.",
    )
    build.add_argument("--variant", choices=(*VARIANTS, "all"), default="separable")
    build.add_argument("--precision", choices=(*PRECISIONS, "all"), default="all")
    build.add_argument("--weights", type=Path, help="folder with {separable,standard}_{float,half}/*.pt")
    build.add_argument("--force", action="store_true", help="rebuild even when the files are valid")
    build.set_defaults(handler=_engines_build)

    importing = engine_commands.add_parser(
        "import",
        help="import model files: ezvtuber-rt THA3 sets (folders), RIFE or SR ONNX files",
        description="Validate and import model files so the core can use them. A folder is taken as "
        "ezvtuber-rt THA3 sets (their data/, data/tha3/ or one set folder: gives the standard variants "
        "without the THA3 weights); an .onnx file as a RIFE (rife_512 layout) or waifu2x / Real-ESRGAN "
        "model. Errors name the expected and found inputs, outputs, shapes and dtypes.",
    )
    importing.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    importing.add_argument(
        "--precision", choices=PRECISIONS, help="ONNX files: override the precision read from the file"
    )
    importing.add_argument(
        "--force", action="store_true", help="THA3 sets: replace sets built here from weights"
    )
    importing.set_defaults(handler=_engines_import)

    listing = engine_commands.add_parser("list", help="show the engine sets and whether they are valid")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    listing.set_defaults(handler=_engines_list)

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


def _engines_build(args: argparse.Namespace) -> int:
    variants = VARIANTS if args.variant == "all" else (args.variant,)
    precisions = PRECISIONS if args.precision == "all" else (args.precision,)
    if args.precision == "all" and importlib.util.find_spec("onnxruntime") is None:
        # fp16 sets are for GPU runtimes, which come with an ONNX Runtime (its converter builds them).
        precisions = tuple(p for p in precisions if p != "fp16")
        print("fp16: skipped (the fp16 converter is ONNX Runtime's, not installed; GPU extras bring it)")
    for variant in variants:
        for precision in precisions:
            engine = ensure_engine_set(variant, precision, weights_root=args.weights, force=args.force)
            print(f"{variant}/{precision}: {engine.path} ({engine.identity})")
    return 0


def _engines_import(args: argparse.Namespace) -> int:
    from ezvtb_node.core.import_tha3 import import_tha3_set
    from ezvtb_node.core.model_import import import_model, validate_model

    for path in args.paths:
        if not path.exists():
            raise FileNotFoundError(f"{path} does not exist: expected a folder of THA3 sets or an .onnx file")
        if path.is_dir():
            for imported in import_tha3_set(path, force=args.force):
                print(f"{path}: THA3 {imported.parent.name}/{imported.name} -> {imported}")
            continue
        destination = import_model(path, precision=args.precision)
        info = validate_model(destination)
        print(f"{path}: {info.family} x{info.scale} {info.precision} -> {destination}")
    return 0


def _engines_list(args: argparse.Namespace) -> int:
    rows = list_engine_sets()
    if args.json:
        print(
            json.dumps(
                [
                    {"path": str(p), "state": state, "manifest": e.manifest if e else None}
                    for p, e, state in rows
                ]
            )
        )
        return 0
    if not rows:
        print(
            "no engine sets yet: run `ezvtb-node engines build` "
            "(the core also builds the default on first use)"
        )
    for path, engine, state in rows:
        detail = ""
        if engine is not None and "source" in engine.manifest:
            detail = f"imported {engine.manifest.get('imported_at', '?')} from {engine.manifest['source']}"
        elif engine is not None:
            detail = f"built {engine.manifest.get('built_at', '?')}"
        print(f"{path}  {state}  {detail}")
    return 0


def _demo(args: argparse.Namespace) -> int:
    from ezvtb_node.demo import demo_trace_path, run_demo

    if not 0 < args.seconds <= 60:
        raise ValueError(f"--seconds must be in (0, 60] (the trace is one minute long), got {args.seconds}")
    if not 0 < args.fps <= 60:
        raise ValueError(f"--fps must be in (0, 60], got {args.fps}")
    if args.serve:
        from ezvtb_node.config import NodeConfig
        from ezvtb_node.node import Node

        config = NodeConfig(
            vmc="off",
            replay=str(demo_trace_path()),
            replay_loop=True,
            output=[args.serve],
            image=str(args.image or ""),
            use_interpolation=not args.no_interpolation,
        )
        print(
            "serving the demo performance; open the browser source URL below in a browser or OBS. "
            "Ctrl-C stops."
        )
        return Node(config).run()

    from ezvtb_node.core import get_core

    with get_core(use_interpolation=not args.no_interpolation, use_cacher=False) as core:
        info = core.describe()
        print(
            f"core: {info['backend']} ({info['provider']}, {info['device']}), "
            f"THA3 {info['variant']}/{info['precision']}"
        )
        result = run_demo(core, args.out, seconds=args.seconds, fps=args.fps, character=args.image)
    print(
        f"rendered {result.tha3_frames} THA3 frames ({result.output_frames} output frames) "
        f"in {result.seconds:.1f} s: {result.fps:.2f} THA3 frames/s"
    )
    print(f"wrote {result.animation}, {result.contact_sheet}, {result.report}")
    return 0
