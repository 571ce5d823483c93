"""Which THA3 precision each GPU backend runs by default, the measurements that choice rests on,
and the bounds a render must meet against the CPU fp32 render (the one source of these facts).

A precision may be a backend's default only where it was measured to meet its bound on a real GPU:

* fp32: every pixel channel within ``FP32_MAX_LEVELS`` (1/255) of the CPU fp32 render;
* fp16: ``FP16_SHARE`` (99.9 %) of the pixel channels within ``FP16_LEVELS`` (2/255) of it.

The fastest precision that meets its bound is the default; a backend without such a measurement
runs fp32 (exact by construction up to its math library) until one exists. ``judge_precision``
turns one measured render into a verdict (benchmarks/gpu.py uses it), and the table below is
edited when a measurement changes: the reason strings name the figures, so ``doctor``, the
metrics and ``describe()`` say why a precision runs.

``get_core(model_half=...)``: True forces fp16 and False fp32 on a GPU backend; ``"auto"`` takes
this table (the node's default; get_core's own default stays True, the seed's contract).
CPU backends always run fp32 (faster there), whatever is asked.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FP32_MAX_LEVELS = 1
FP16_LEVELS = 2
FP16_SHARE = 0.999
PRECISION_BOUNDS = {
    "fp32": f"max |Δ| ≤ {FP32_MAX_LEVELS}/255 vs the CPU fp32 render",
    "fp16": f"{FP16_SHARE:.1%} of pixel channels within {FP16_LEVELS}/255 of the CPU fp32 render",
}


@dataclass(frozen=True)
class Measurement:
    """One precision measured on one GPU: speed and distance from the CPU fp32 render."""

    precision: str
    where: str  # GPU, driver, runtime
    ms_per_frame: float | None
    max_levels: int | None
    p999_levels: float | None
    meets_bound: bool


@dataclass(frozen=True)
class PrecisionDefault:
    precision: str
    reason: str
    measurements: tuple[Measurement, ...] = ()

    @property
    def measured(self) -> bool:
        return any(m.meets_bound and m.precision == self.precision for m in self.measurements)


_H200_CUDA = "NVIDIA H200, driver 580, onnxruntime-gpu 1.31.1 (issue 21)"
#: The default precision of each GPU backend and what it rests on. Edit with new measurements.
GPU_DEFAULTS: dict[str, PrecisionDefault] = {
    "cuda": PrecisionDefault(
        "fp32",
        "measured on an H200: fp32 with TF32 off max 1/255 at 8.9 ms/frame meets its bound; fp16 "
        "p99.9 3/255 fails its bound (2/255), measured before fp16 sets kept GridSample on the GPU "
        "(engine format 4): fp16 speed and fidelity since then unmeasured",
        (
            Measurement("fp32", _H200_CUDA, 8.9, 1, None, True),
            Measurement("fp16", _H200_CUDA, 78.0, 65, 3.0, False),
        ),
    ),
    "tensorrt": PrecisionDefault(
        "fp32", "unmeasured on a GPU (TensorRT could not be installed on the H200): fp32 until measured"
    ),
    "directml": PrecisionDefault("fp32", "unmeasured on a GPU: fp32 until measured"),
}
CPU_PRECISION = PrecisionDefault("fp32", "CPU backends run fp32 (faster than fp16 there)")


@dataclass(frozen=True)
class PrecisionChoice:
    precision: str
    reason: str
    source: str  # "table", "setting" or "cpu"


def choose_precision(backend: str, model_half: bool | str, gpu: bool) -> PrecisionChoice:
    """The precision a core on ``backend`` runs for the user's ``model_half`` (True, False, "auto")."""
    if not gpu:
        return PrecisionChoice(CPU_PRECISION.precision, CPU_PRECISION.reason, "cpu")
    if model_half == "auto":
        default = GPU_DEFAULTS.get(backend)
        if default is None:
            return PrecisionChoice("fp32", f"no measurement for backend {backend!r}: fp32", "table")
        return PrecisionChoice(default.precision, default.reason, "table")
    precision = "fp16" if model_half else "fp32"
    return PrecisionChoice(precision, f"model_half={model_half} asks for {precision}", "setting")


@dataclass(frozen=True)
class PrecisionVerdict:
    """How far a render is from the CPU fp32 render, and whether ``precision``'s bound holds."""

    precision: str
    max_levels: int
    p999_levels: float
    share_within_fp16_levels: float
    meets_bound: bool

    def __str__(self) -> str:
        verdict = "meets" if self.meets_bound else "fails"
        return (
            f"{self.precision}: max {self.max_levels}/255, p99.9 {self.p999_levels:g}/255, "
            f"{self.share_within_fp16_levels:.4%} within {FP16_LEVELS}/255: {verdict} "
            f"its bound ({PRECISION_BOUNDS[self.precision]})"
        )


def judge_precision(reference, candidate, precision: str) -> PrecisionVerdict:
    """Judge ``candidate`` frames rendered in ``precision`` against ``reference`` frames of the CPU
    fp32 render (uint8 arrays of one shape, or equal-length sequences of them for several poses).
    Raises ValueError for an unknown precision or frames that do not match up."""
    if precision not in PRECISION_BOUNDS:
        raise ValueError(f"precision must be one of {', '.join(PRECISION_BOUNDS)}, got {precision!r}")
    ref, cand = _stacked(reference, "reference"), _stacked(candidate, "candidate")
    if ref.shape != cand.shape:
        raise ValueError(f"reference frames are {ref.shape}, candidate frames {cand.shape}: they must match")
    difference = np.abs(ref.astype(np.int16) - cand.astype(np.int16))
    max_levels = int(difference.max()) if difference.size else 0
    p999 = float(np.percentile(difference, 99.9)) if difference.size else 0.0
    share = float((difference <= FP16_LEVELS).mean()) if difference.size else 1.0
    meets = max_levels <= FP32_MAX_LEVELS if precision == "fp32" else share >= FP16_SHARE
    return PrecisionVerdict(precision, max_levels, p999, share, meets)


def _stacked(frames, what: str) -> np.ndarray:
    array = np.stack(frames) if isinstance(frames, list | tuple) else np.asarray(frames)
    if array.dtype != np.uint8:
        raise ValueError(f"{what} frames must be uint8 pixels, got {array.dtype}")
    return array
