"""Which runtime runs the graphs: one table of runtimes by name, and the orders they are tried in.

When a GPU is wanted the order is TensorRT → ONNX Runtime CUDA → DirectML → CPU
(``use_tensorrt=False`` puts DirectML first, as in the seed). On the CPU, OpenVINO runs the THA3
graphs about twice as fast as ONNX Runtime (see benchmarks/core_cpu.py), so it is preferred when
installed. A requested runtime that is missing gives one warning naming what runs instead.

Every graph the core runs goes through the backend chosen here: the THA3 stages, and imported
RIFE and SR graphs too, so they follow the same device.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from dataclasses import dataclass

from ezvtb_node.core.backends.base import Backend, BackendUnavailable
from ezvtb_node.install_hints import install_extra

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RuntimeSettings:
    """What the runtimes' constructors take; each factory reads the fields that apply to it."""

    device_id: int = 0
    cpu_threads: int = 0  # 0: one per core
    cuda_tf32: bool = False


@dataclass
class Selection:
    """The runtime that runs, the one asked for, and why they differ (None when they do not)."""

    backend: Backend
    requested: str
    fallback_reason: str | None = None


# The runtime modules are imported only when asked for: each raises BackendUnavailable when its
# package (or, for TensorRT, a CUDA binding, the device or its compute capability) is missing.
def _tensorrt(settings: RuntimeSettings) -> Backend:
    from ezvtb_node.core.backends.tensorrt import TensorRtBackend

    return TensorRtBackend(settings.device_id)


def _onnxruntime_cuda(settings: RuntimeSettings) -> Backend:
    backend_class = _onnxruntime_module().OnnxRuntimeBackend
    return backend_class("CUDAExecutionProvider", settings.device_id, tf32=settings.cuda_tf32)


def _directml(settings: RuntimeSettings) -> Backend:
    return _onnxruntime_module().OnnxRuntimeBackend("DmlExecutionProvider", settings.device_id)


def _openvino(settings: RuntimeSettings) -> Backend:
    from ezvtb_node.core.backends.openvino import OpenVinoBackend

    return OpenVinoBackend(settings.cpu_threads)


def _onnxruntime_cpu(settings: RuntimeSettings) -> Backend:
    return _onnxruntime_module().OnnxRuntimeBackend("CPUExecutionProvider", 0, threads=settings.cpu_threads)


# Every runtime, by the name its backend reports (``Backend.name``).
RUNTIMES: dict[str, Callable[[RuntimeSettings], Backend]] = {
    "tensorrt": _tensorrt,
    "cuda": _onnxruntime_cuda,
    "directml": _directml,
    "openvino": _openvino,
    "onnxruntime-cpu": _onnxruntime_cpu,
}
# The GPU runtimes tried in turn, by ``use_tensorrt``; the first is the one asked for. Without
# TensorRT the seed asked for DirectML; CUDA through ONNX Runtime still beats the CPU.
GPU_ORDER: dict[bool, tuple[str, ...]] = {
    True: ("tensorrt", "cuda", "directml"),
    False: ("directml", "cuda"),
}
# The CPU runtimes tried in turn, by ``cpu_backend`` (the core option's values: CoreOptions reads
# them here). "auto" puts OpenVINO first, the faster of the two on THA3.
CPU_ORDER: dict[str, tuple[str, ...]] = {
    "auto": ("openvino", "onnxruntime-cpu"),
    "openvino": ("openvino",),
    "onnxruntime": ("onnxruntime-cpu",),
}


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
    settings = RuntimeSettings(device_id, cpu_threads, cuda_tf32)
    order = GPU_ORDER[bool(use_tensorrt)]
    reasons: list[str] = []
    for name in order:
        try:
            backend = RUNTIMES[name](settings)
        except BackendUnavailable as exc:
            reasons.append(f"{name}: {exc}")
            continue
        return _selection(backend, order[0], reasons)
    return _selection(make_cpu_backend(cpu_backend, cpu_threads), order[0], reasons)


def make_backend(name: str, device_id: int = 0, cpu_threads: int = 0, cuda_tf32: bool = False) -> Backend:
    """One runtime by name (``tensorrt``, ``cuda``, ``directml``, ``openvino``, ``onnxruntime-cpu``),
    without fallback: BackendUnavailable says why it cannot run here. For benchmarks and checks."""
    if name not in RUNTIMES:
        *others, last = RUNTIMES
        raise ValueError(f"unknown backend {name!r}: {', '.join(others)} or {last}")
    return RUNTIMES[name](RuntimeSettings(device_id, cpu_threads, cuda_tf32))


def make_cpu_backend(cpu_backend: str = "auto", threads: int = 0) -> Backend:
    """The CPU runtime: OpenVINO unless ``cpu_backend`` is "onnxruntime" (or OpenVINO is missing).

    ``threads``: inference threads (0: one per core).
    """
    settings = RuntimeSettings(cpu_threads=threads)
    order = CPU_ORDER[cpu_backend]
    reasons: list[str] = []
    for name in order:
        try:
            return RUNTIMES[name](settings)
        except BackendUnavailable as exc:
            if len(order) == 1:
                raise
            reasons.append(f"{name}: {exc}")
            log.info("%s cannot run here (%s)", name, exc)
    raise BackendUnavailable(f"no CPU runtime: {'; '.join(reasons)}")


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
