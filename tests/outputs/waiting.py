"""Small helpers shared by the output tests."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from ezvtb_node.outputs.base import FrameSink


def wait_until(condition: Callable[[], object], timeout: float = 30.0) -> None:
    """Poll until ``condition()`` holds; TimeoutError after ``timeout`` s (generous: only a failing
    test waits that long, and a loaded machine can be slow to run a sink thread)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        time.sleep(0.002)


def send_and_wait(sink: FrameSink, frame: np.ndarray) -> None:
    """Send one frame and wait until the sink has handled it (so nothing is dropped)."""
    before = sink.stats()
    sink.send(frame)
    wait_until(
        lambda: sink.stats()["written"] + sink.stats()["errors"] > before["written"] + before["errors"]
    )


def make_frame(height: int, width: int, seed: int, alpha: str = "binary") -> np.ndarray:
    """Random BGRA frame; alpha "binary" (0 or 255), "opaque" or "any"."""
    rng = np.random.default_rng(seed)
    frame = rng.integers(0, 256, (height, width, 4), dtype=np.uint8)
    if alpha == "binary":
        frame[..., 3] = np.where(rng.random((height, width)) < 0.5, 0, 255)
    elif alpha == "opaque":
        frame[..., 3] = 255
    return frame


def bgra_to_rgba(frame: np.ndarray) -> np.ndarray:
    return frame[..., [2, 1, 0, 3]]
