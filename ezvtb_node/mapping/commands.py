"""`ezvtb-node mappings check|apply`: validate a mapping file, or run it over a trace."""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Iterator
from typing import IO, Any

from ezvtb_node.mapping.bundled import resolve_mapping_path
from ezvtb_node.mapping.mapper import Mapper
from ezvtb_node.mapping.mapping import load_mapping
from ezvtb_node.pose import POSE_INDEX, POSE_SIZE


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "mappings", help="check or apply a mapping file (tracking channels → THA3 pose)"
    )
    commands = parser.add_subparsers(dest="mappings_command", metavar="ACTION")
    commands.required = True

    check = commands.add_parser("check", help="validate mapping files; errors name file, line and key")
    check.add_argument("files", nargs="+", metavar="FILE", help="mapping file path or bundled name")
    check.set_defaults(handler=run_check)

    apply = commands.add_parser(
        "apply",
        help="read trace lines (or bare channel objects) on stdin, write 45-float JSON arrays on stdout",
    )
    apply.add_argument("file", metavar="FILE", help="mapping file path or bundled name")
    apply.add_argument("--no-filters", action="store_true", help="skip the One Euro filter")
    apply.add_argument(
        "--calibrate", action="store_true", help="take the first frame's channels as the neutral face"
    )
    apply.add_argument(
        "--fps", type=float, default=60.0, help="frame rate assumed for lines without a 't' (default 60)"
    )
    apply.set_defaults(handler=run_apply)


def run_check(args: argparse.Namespace) -> int:
    for name in args.files:
        mapping = load_mapping(resolve_mapping_path(name))
        pose = sum(1 for name in mapping.definitions if name in POSE_INDEX)
        print(
            f"{mapping.path}: ok: {pose} pose parameters, {len(mapping.definitions) - pose} named values, "
            f"{len(mapping.blocks)} block(s), reads {len(mapping.channels)} channels"
        )
    return 0


def read_frames(lines: IO[str], fps: float) -> Iterator[tuple[dict[str, float], float]]:
    """(channels, t) per non-empty line; a line is a trace frame or a bare channel object."""
    if not fps > 0:
        raise ValueError(f"--fps: expected a positive frame rate, got {fps}")
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            item: Any = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(
                f"stdin line {number}: expected a JSON object, got invalid JSON ({exc.msg})"
            ) from None
        if not isinstance(item, dict):
            raise ValueError(f"stdin line {number}: expected a JSON object, got {type(item).__name__}")
        default_t = (number - 1) / fps
        channels, t = (
            (item["channels"], item.get("t", default_t)) if "channels" in item else (item, default_t)
        )
        if not isinstance(channels, dict):
            raise ValueError(
                f"stdin line {number}: expected 'channels' to be an object, got {type(channels).__name__}"
            )
        if isinstance(t, bool) or not isinstance(t, int | float) or not math.isfinite(t):
            raise ValueError(f"stdin line {number}: expected 't' to be a number of seconds, got {t!r}")
        values: dict[str, float] = {}
        for name, value in channels.items():
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise ValueError(
                    f"stdin line {number}: channel '{name}': expected a finite number, got {value!r}"
                )
            values[name] = float(value)
        yield values, float(t)


def format_pose(pose: Any) -> str:
    return "[" + ",".join(format(float(x), ".7g") for x in pose.reshape(POSE_SIZE)) + "]"


def run_apply(args: argparse.Namespace) -> int:
    mapper = Mapper(resolve_mapping_path(args.file), filters=not args.no_filters)
    calibrate = args.calibrate
    out = sys.stdout
    for channels, t in read_frames(sys.stdin, args.fps):
        if calibrate:
            mapper.calibrate_neutral(channels)
            calibrate = False
        out.write(format_pose(mapper.update(channels, t)) + "\n")
    out.flush()
    return 0
