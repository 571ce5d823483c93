"""`ezvtb-node cache info|clear|warm`."""

from __future__ import annotations

import argparse
import contextlib
import json
import sqlite3
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ezvtb_node.core.cacher.frame_cacher import DEFAULT_DB_SIZE_GB, FrameCacher, default_db_path
from ezvtb_node.core.cacher.sqlite_store import open_existing
from ezvtb_node.core.cacher.warm import (
    grid_poses,
    grid_size,
    parse_grid,
    read_pose_file,
    read_pose_lines,
    warm,
)


def register(subparsers: argparse._SubParsersAction) -> None:
    cache = subparsers.add_parser("cache", help="inspect, clear or pre-fill the frame cache database")
    sub = cache.add_subparsers(dest="cache_command", metavar="ACTION")
    sub.required = True
    db_help = f"cache database file (default: {default_db_path()})"

    info = sub.add_parser("info", help="entries, size, contexts and age of a cache database")
    info.add_argument("--db", type=Path, default=None, help=db_help)
    info.add_argument("--json", action="store_true", help="print one JSON object")
    info.set_defaults(handler=_info)

    clear = sub.add_parser("clear", help="delete every cached frame and shrink the file")
    clear.add_argument("--db", type=Path, default=None, help=db_help)
    clear.set_defaults(handler=_clear)

    warm_cmd = sub.add_parser(
        "warm",
        help="render poses into the cache database ahead of a stream",
        description="Render poses with the core (no cacher, no interpolation) and store them. Poses come "
        "from a file of JSON lines (one array of 45 floats per line, as `ezvtb-node mappings apply` "
        "writes them; '-' reads stdin) or from a grid such as head_x=-1:1:9,mouth_aaa=0:1:3.",
    )
    warm_cmd.add_argument("--image", type=Path, required=True, help="character image: 512x512 PNG with alpha")
    source = warm_cmd.add_mutually_exclusive_group(required=True)
    source.add_argument("--poses", help="pose lines file ('-' = stdin)")
    source.add_argument("--grid", help="name=low:high:count,... over THA3 pose parameters (others at 0)")
    warm_cmd.add_argument("--db", type=Path, default=None, help=db_help)
    warm_cmd.add_argument(
        "--quality", type=int, default=85, help="stored quality 1-100 (must match the node's)"
    )
    warm_cmd.add_argument("--db-size-gb", type=float, default=DEFAULT_DB_SIZE_GB, help="database size cap")
    warm_cmd.add_argument(
        "--core-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra get_core option (JSON value), e.g. model_half=false; must match the node's engine",
    )
    warm_cmd.set_defaults(handler=_warm)


def _info(args: argparse.Namespace) -> int:
    path = args.db or default_db_path()
    with _sqlite_errors(path):
        row, page_size, pages = _read_info(path)
    entries, stored, contexts, oldest, newest = row
    info = {
        "path": str(path),
        "entries": entries,
        "stored_bytes": int(stored),
        "file_bytes": page_size * pages,
        "contexts": contexts,
        "oldest_use": _when(oldest),
        "newest_use": _when(newest),
    }
    if args.json:
        print(json.dumps(info))
    else:
        for name, value in info.items():
            print(f"{name:12} {value}")
    return 0


@contextlib.contextmanager
def _sqlite_errors(path: Path) -> Iterator[None]:
    """SQLite trouble (locked by a running node for too long, I/O) as a one-line user error."""
    try:
        yield
    except sqlite3.Error as exc:
        raise RuntimeError(f"cache database {path}: {exc}") from exc


def _read_info(path: Path) -> tuple[tuple, int, int]:
    db = open_existing(path)
    try:
        row = db.execute(
            "SELECT count(*), total(size), count(DISTINCT context), min(last_used), max(last_used)"
            " FROM frames"
        ).fetchone()
        page_size = db.execute("PRAGMA page_size").fetchone()[0]
        pages = db.execute("PRAGMA page_count").fetchone()[0]
    finally:
        db.close()
    return row, page_size, pages


def _when(timestamp: float | None) -> str | None:
    return None if timestamp is None else time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(timestamp))


def _clear(args: argparse.Namespace) -> int:
    path = args.db or default_db_path()
    with _sqlite_errors(path):
        db = open_existing(path)
        try:
            removed = db.execute("SELECT count(*) FROM frames").fetchone()[0]
            db.table("frames").delete_where()
            db.vacuum()
        finally:
            db.close()
    print(f"removed {removed} frames from {path}")
    return 0


def _core_options(pairs: list[str]) -> dict[str, object]:
    options: dict[str, object] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"--core-option expects KEY=VALUE, got {pair!r}")
        try:
            options[key] = json.loads(value)
        except json.JSONDecodeError:
            options[key] = value
    return options


def _warm(args: argparse.Namespace) -> int:
    from ezvtb_node.character import load_character

    image = load_character(args.image)
    if args.grid:
        axes = parse_grid(args.grid)
        poses, total = grid_poses(axes), grid_size(axes)
    elif args.poses == "-":
        poses, total = read_pose_lines(sys.stdin), None
    else:
        pose_list = read_pose_file(args.poses)
        poses, total = iter(pose_list), len(pose_list)

    from ezvtb_node.core import get_core  # the core is heavy; only warm needs it

    core = get_core(use_cacher=False, use_interpolation=False, **_core_options(args.core_option))
    core.setImage(image)
    engine_id = getattr(core, "engine_id", None)
    if not engine_id:
        raise RuntimeError(
            "this core does not report an engine_id, so warmed frames could not be matched later"
        )

    def render(pose: np.ndarray) -> np.ndarray:
        return core.inference(pose)[-1]

    with FrameCacher(True, args.quality, 0.0, args.db or default_db_path(), args.db_size_gb) as cacher:
        # The core's own digest (of the image as it renders it, transparent pixels zeroed), so the
        # node's core finds these frames.
        digest = core.image_digest
        assert digest is not None  # setImage above set it
        cacher.set_context(digest, engine_id)
        result = warm(cacher, render, poses, total=total)
        stats = cacher.stats()
    print(
        f"warmed {stats['db_path']}: {result.rendered} rendered, {result.already_cached} already cached "
        f"of {result.poses} poses; database holds {stats.get('db_entries')} frames"
    )
    return 0
