"""Child processes for the cacher tests: `python cacher_child.py ACTION DB [ARGS]`, prints JSON."""

from __future__ import annotations

import json
import sys

import numpy as np
from cacher_helpers import frame_for, pose_for

from ezvtb_node.core.cacher import FrameCacher


def _open(db: str, quality: int = 100) -> FrameCacher:
    cacher = FrameCacher(on_database=True, quality=quality, ram_size_gb=0.0, db_path=db)
    cacher.set_context("image", "engine")
    return cacher


def lookup(db: str, first: int, count: int) -> dict:
    """Look poses up once each; report hits and whether every hit was the right frame."""
    with _open(db) as cacher:
        results = [cacher.get(pose_for(i)) for i in range(first, first + count)]
        wrong = sum(
            1
            for i, got in zip(range(first, first + count), results, strict=True)
            if got is not None and not np.array_equal(got, frame_for(pose_for(i)))
        )
        return {"hits": sum(r is not None for r in results), "wrong": wrong, "stats": cacher.stats()}


def write_forever(db: str) -> None:
    """Keep storing frames until killed (the SIGKILL test)."""
    cacher = _open(db)
    i = 0
    while True:
        cacher.put(pose_for(i), frame_for(pose_for(i)), block=True)
        i += 1


def _barrier(name: str) -> None:
    """Tell the parent this process reached ``name`` and wait for its go-ahead (one stdin line).

    The parent releases every process only once all of them have arrived, so what one process
    stored before a barrier is committed before the other one reads after it: no sleeps, no luck.
    """
    print(f"at {name}", flush=True)
    if sys.stdin.readline().strip() != "go":
        raise SystemExit(f"barrier {name}: the parent went away")


def share(db: str, mine: int, theirs: int, count: int) -> dict:
    """Write my frames while reading the other process's, like two nodes on one file.

    Phase 1 (both processes at once, released together): store mine, look theirs up as they come
    in (hits here depend on timing and are only checked for being right). Phase 2, after a barrier
    that both reach only with their frames committed: every one of theirs must hit.
    """
    wrong = 0

    def check(index: int) -> bool:
        nonlocal wrong
        got = cacher.get(pose_for(index))
        if got is not None and not np.array_equal(got[..., 3], frame_for(pose_for(index))[..., 3]):
            wrong += 1
        return got is not None

    with _open(db, quality=85) as cacher:
        _barrier("opened")
        for i in range(count):
            cacher.put(pose_for(mine + i), frame_for(pose_for(mine + i)), block=True)
            check(theirs + i)
        cacher.flush()  # mine are committed before the other process passes the next barrier
        _barrier("stored")
        seen = sum(check(theirs + i) for i in range(count))
        return {"wrong": wrong, "seen_after_both_stored": seen, "stats": cacher.stats()}


if __name__ == "__main__":
    action, db, *rest = sys.argv[1:]
    numbers = [int(x) for x in rest]
    if action == "write_forever":
        write_forever(db)
    print(json.dumps({"lookup": lookup, "share": share}[action](db, *numbers)))
