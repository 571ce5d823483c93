"""Runtimes that execute the stage graphs, one module per runtime.

Selection order when a GPU is wanted: TensorRT → ONNX Runtime CUDA → DirectML → CPU
(``use_tensorrt=False`` puts DirectML first, as in the seed). On the CPU, OpenVINO runs the THA3
graphs about twice as fast as ONNX Runtime (see benchmarks/core_cpu.py), so it is preferred when
installed. A requested runtime that is missing gives one warning naming what runs instead.

Every graph the core runs goes through the backend chosen here: the THA3 stages, and imported
RIFE and SR graphs too, so they follow the same device.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

log = logging.getLogger(__name__)


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


def to_host(tensor: np.ndarray | DeviceOutput) -> np.ndarray:
    """A host array for a runner output (device tensors are copied; host arrays returned as they are)."""
    return tensor if isinstance(tensor, np.ndarray) else tensor.to_host()


def keep(runner: StageRunner, outputs: list) -> list:
    """Outputs of ``runner`` that stay valid across its later runs: runners that rewrite fixed
    buffers every run (ONNX Runtime with IO binding) copy them; others hand them through."""
    return runner.keep(outputs) if hasattr(runner, "keep") else outputs


def restore(runner: StageRunner, kept: list) -> list:
    """Results kept with :func:`keep` (or host copies of them) as ``runner``'s outputs, placed where
    the next stage reads that runner's outputs."""
    return runner.restore(kept) if hasattr(runner, "restore") else list(kept)


class Backend(Protocol):
    name: str
    provider: str
    device: str
    # Whether it runs fp16 graphs faster than fp32 ones (GPUs); CPU backends run fp32.
    prefers_half: bool

    def load(self, path: Path) -> StageRunner: ...


@dataclass
class Selection:
    backend: Backend
    requested: str
    fallback_reason: str | None = None
    notes: list[str] = field(default_factory=list)


class BackendUnavailable(RuntimeError):
    pass


def select_backend(
    use_tensorrt: bool,
    device_id: int,
    cpu_backend: str = "auto",
    cpu_threads: int = 0,
    cuda_tf32: bool = False,
) -> Selection:
    """Pick the first runtime that works here, in the order the options ask for.

    ``cpu_threads``: threads a CPU runtime may use (0: one per core). ``cuda_tf32``: TF32
    convolutions on ONNX Runtime's CUDA provider (faster, not exact).
    """
    requested = "tensorrt" if use_tensorrt else "directml"
    gpu_order = ("tensorrt", "cuda", "directml") if use_tensorrt else ("directml", "cuda")
    reasons: list[str] = []
    for name in gpu_order:
        try:
            backend = _make_gpu_backend(name, device_id, cuda_tf32)
        except BackendUnavailable as exc:
            reasons.append(f"{name}: {exc}")
            continue
        return _selection(backend, requested, reasons)
    return _selection(make_cpu_backend(cpu_backend, cpu_threads), requested, reasons)


def make_backend(name: str, device_id: int = 0, cpu_threads: int = 0, cuda_tf32: bool = False) -> Backend:
    """One runtime by name (``tensorrt``, ``cuda``, ``directml``, ``openvino``, ``onnxruntime-cpu``),
    without fallback: BackendUnavailable says why it cannot run here. For benchmarks and checks."""
    if name in ("tensorrt", "cuda", "directml"):
        return _make_gpu_backend(name, device_id, cuda_tf32)
    if name in ("openvino", "onnxruntime-cpu"):
        return make_cpu_backend("openvino" if name == "openvino" else "onnxruntime", cpu_threads)
    raise ValueError(f"unknown backend {name!r}: tensorrt, cuda, directml, openvino or onnxruntime-cpu")


def fail_over(
    selection: Selection, reason: str, cpu_backend: str = "auto", cpu_threads: int = 0
) -> Selection:
    """The CPU runtime in place of a chosen GPU backend that could not load a graph (ONNX Runtime
    put the session on the CPU: CUDA/cuDNN libraries or the driver), with ``reason`` named first."""
    reasons = [f"{selection.backend.name}: {reason}"]
    if selection.fallback_reason:
        reasons.append(selection.fallback_reason)
    return _selection(make_cpu_backend(cpu_backend, cpu_threads), selection.requested, reasons)


def _selection(backend: Backend, requested: str, reasons: list[str]) -> Selection:
    selection = Selection(backend=backend, requested=requested)
    if backend.name != requested and reasons:
        selection.fallback_reason = "; ".join(reasons)
        warnings.warn(
            f"{requested} is not available here ({reasons[0]}); running on {backend.name} "
            f"({backend.provider}, {backend.device}) instead",
            RuntimeWarning,
            stacklevel=5,
        )
    return selection


def _make_gpu_backend(name: str, device_id: int, cuda_tf32: bool = False) -> Backend:
    if name == "tensorrt":
        # Raises BackendUnavailable when tensorrt or a CUDA binding (cuda-bindings, pycuda) is
        # missing, the device does not exist or its compute capability is below what TensorRT
        # supports.
        from ezvtb_node.core.backends.tensorrt import TensorRtBackend

        return TensorRtBackend(device_id)
    ort_backend = _onnxruntime_module()
    if name == "cuda":
        return ort_backend.OnnxRuntimeBackend("CUDAExecutionProvider", device_id, tf32=cuda_tf32)
    return ort_backend.OnnxRuntimeBackend("DmlExecutionProvider", device_id)


def make_cpu_backend(cpu_backend: str = "auto", threads: int = 0) -> Backend:
    """The CPU runtime: OpenVINO unless ``cpu_backend`` is "onnxruntime" (or OpenVINO is missing).

    ``threads``: inference threads (0: one per core).
    """
    openvino_reason = None
    if cpu_backend in ("auto", "openvino"):
        try:
            from ezvtb_node.core.backends import openvino as ov_backend

            return ov_backend.OpenVinoBackend(threads)
        except BackendUnavailable as exc:
            if cpu_backend == "openvino":
                raise
            openvino_reason = str(exc)
            log.info("OpenVINO unavailable (%s); using ONNX Runtime on the CPU", exc)
    try:
        ort_backend = _onnxruntime_module()
    except BackendUnavailable as exc:
        if openvino_reason is None:
            raise
        raise BackendUnavailable(f"no CPU runtime: OpenVINO: {openvino_reason}; {exc}") from exc
    return ort_backend.OnnxRuntimeBackend("CPUExecutionProvider", 0, threads=threads)


def _onnxruntime_module():
    """The ONNX Runtime backend module; BackendUnavailable when no ONNX Runtime package is installed
    (the base install has none: OpenVINO is the CPU runtime)."""
    try:
        from ezvtb_node.core.backends import onnxruntime as ort_backend
    except ImportError as exc:
        raise BackendUnavailable(
            "no ONNX Runtime package is installed (pip install 'ezvtb-node[nvidia]' for CUDA, "
            "'[directml]' for DirectML, '[onnxruntime]' for its CPU runtime)"
        ) from exc
    return ort_backend
