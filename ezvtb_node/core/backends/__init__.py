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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from ezvtb_node.install_hints import install_extra

log = logging.getLogger(__name__)


class StageRunner(Protocol):
    """One loaded stage graph."""

    input_names: tuple[str, ...]
    output_names: tuple[str, ...]

    def run(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        """Outputs in ``output_names`` order: numpy arrays, or device tensors (``nbytes``,
        ``to_host()``) that this backend's runners accept as inputs without a host copy."""
        ...


def to_host(tensor) -> np.ndarray:
    """A host array for a runner output (device tensors are copied; host arrays returned as they are)."""
    return tensor.to_host() if hasattr(tensor, "to_host") else tensor


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
    use_tensorrt: bool, device_id: int, cpu_backend: str = "auto", cpu_threads: int = 0
) -> Selection:
    """Pick the first runtime that works here, in the order the options ask for.

    ``cpu_threads``: threads a CPU runtime may use (0: one per core).
    """
    requested = "tensorrt" if use_tensorrt else "directml"
    gpu_order = ("tensorrt", "cuda", "directml") if use_tensorrt else ("directml", "cuda")
    reasons: list[str] = []
    for name in gpu_order:
        try:
            backend = _make_gpu_backend(name, device_id)
        except BackendUnavailable as exc:
            reasons.append(f"{name}: {exc}")
            continue
        return _selection(backend, requested, reasons)
    return _selection(make_cpu_backend(cpu_backend, cpu_threads), requested, reasons)


def make_backend(name: str, device_id: int = 0, cpu_threads: int = 0) -> Backend:
    """One runtime by name (``tensorrt``, ``cuda``, ``directml``, ``openvino``, ``onnxruntime-cpu``),
    without fallback: BackendUnavailable says why it cannot run here. For benchmarks and checks."""
    if name in ("tensorrt", "cuda", "directml"):
        return _make_gpu_backend(name, device_id)
    if name in ("openvino", "onnxruntime-cpu"):
        return make_cpu_backend("openvino" if name == "openvino" else "onnxruntime", cpu_threads)
    raise ValueError(f"unknown backend {name!r}: tensorrt, cuda, directml, openvino or onnxruntime-cpu")


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


def _make_gpu_backend(name: str, device_id: int) -> Backend:
    if name == "tensorrt":
        # Raises BackendUnavailable when tensorrt or a CUDA binding (cuda-bindings, pycuda) is
        # missing, the device does not exist or its compute capability is below what TensorRT
        # supports.
        from ezvtb_node.core.backends.tensorrt import TensorRtBackend

        return TensorRtBackend(device_id)
    ort_backend = _onnxruntime_module()
    if name == "cuda":
        return ort_backend.OnnxRuntimeBackend("CUDAExecutionProvider", device_id)
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
            f"no ONNX Runtime package is installed ({install_extra('nvidia')} for CUDA, "
            "[directml] for DirectML, [onnxruntime] for its CPU runtime)"
        ) from exc
    return ort_backend
