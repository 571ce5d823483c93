"""What every runtime provides: the ``Backend`` and ``StageRunner`` protocols, the error that says a
runtime cannot run here, and the helpers the stages use on any runner's outputs.

The runtime modules import this module, never the package, so nothing here depends on which runtimes
are installed.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np


class BackendUnavailable(RuntimeError):
    """A runtime cannot run here (package, driver or device missing); the message says which."""


class DeviceOutput(Protocol):
    """A runner output left in GPU memory, which the same backend's runners take as an input."""

    nbytes: int

    def to_host(self) -> np.ndarray: ...


class StageRunner(Protocol):
    """One loaded stage graph."""

    input_names: tuple[str, ...]
    output_names: tuple[str, ...]

    def run(self, feeds: dict[str, Any]) -> Sequence[np.ndarray | DeviceOutput]:
        """Outputs in ``output_names`` order: numpy arrays, or ``DeviceOutput`` tensors that this
        backend's runners accept as inputs without a host copy (``feeds`` may hold them too)."""
        ...

    def keep(self, outputs: list) -> list:
        """Outputs of this runner that stay valid across its later runs (for the intermediate cache)."""
        ...

    def restore(self, kept: list) -> list:
        """Results kept with :meth:`keep` (or host copies of them) as this runner's outputs, placed
        where the next stage reads them."""
        ...


class FreshOutputsRunner:
    """A runner whose every run returns new output objects, so a result stays valid as it is: the
    ``keep`` and ``restore`` of every runtime except ONNX Runtime with IO binding, which rewrites
    fixed buffers each run and copies instead."""

    def keep(self, outputs: list) -> list:
        return outputs

    def restore(self, kept: list) -> list:
        return list(kept)


class Backend(Protocol):
    name: str
    provider: str
    device: str
    # Whether it runs fp16 graphs faster than fp32 ones (GPUs); CPU backends run fp32.
    prefers_half: bool

    def load(self, path: Path) -> StageRunner: ...


def to_host(tensor: np.ndarray | DeviceOutput) -> np.ndarray:
    """A host array for a runner output (device tensors are copied; host arrays returned as they are)."""
    return tensor if isinstance(tensor, np.ndarray) else tensor.to_host()

