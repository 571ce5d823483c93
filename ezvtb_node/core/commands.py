"""CLI: `engines build|list|import`."""

from __future__ import annotations

import argparse
import importlib.util
import json
from pathlib import Path

from ezvtb_node.core.models.layout import PRECISIONS, VARIANTS
from ezvtb_node.core.models.store import list_engine_sets
from ezvtb_node.core.models.tha3_build import ensure_engine_set


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



def _engines_build(args: argparse.Namespace) -> int:
    variants = VARIANTS if args.variant == "all" else (args.variant,)
    precisions: tuple[str, ...] = PRECISIONS if args.precision == "all" else (args.precision,)
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
    from ezvtb_node.core.models.import_onnx import import_model, validate_model
    from ezvtb_node.core.models.import_tha3 import import_tha3_set

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
