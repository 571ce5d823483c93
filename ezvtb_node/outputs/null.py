"""The null output: accepts frames and discards them (benchmarks, headless runs)."""

from __future__ import annotations

import numpy as np

from ezvtb_node.outputs.base import FrameSink


class NullSink(FrameSink):
    kind = "null"

    def _start(self, width: int, height: int) -> None:
        """Nothing to acquire."""

    def _write(self, frame: np.ndarray, sent_at: float) -> None:
        """Frames are counted by the base class and otherwise ignored."""
