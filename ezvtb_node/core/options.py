"""The options of ``get_core()``: the seed's names and defaults, validated with clear errors."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ezvtb_node.core.backends.selection import CPU_ORDER
from ezvtb_node.core.models.layout import FRAME_SHAPE, SR_FAMILIES, SR_SCALES
from ezvtb_node.core.models.layout import RIFE_SCALES as INTERPOLATION_SCALES

SR_MODELS = ("auto", "bicubic", *SR_FAMILIES)
CPU_BACKENDS = tuple(CPU_ORDER)

# Spelling of the seed ("seperable") is the contract; the correct spelling is accepted too.
_ALIASES = {"model_separable": "model_seperable"}


def _option(default: Any, help_text: str) -> Any:
    """A field with the one-line help that ``ezvtb-node run --help`` and ``--print-config`` show."""
    return field(default=default, metadata={"help": help_text})


@dataclass(frozen=True)
class CoreOptions:
    """Every option of the seed's ``get_core``, plus ours (``model_dir``, ``cpu_backend``, SR).

    Sizes are in GB (10**9 bytes), as in the seed.
    """

    device_id: int = _option(0, "GPU index")
    model_seperable: bool = _option(True, "separable THA3 (faster) instead of standard")
    # "auto": the precision measured best on this GPU backend (core/precision.py); the node's default.
    model_half: bool | str = _option(
        True, "fp16 THA3 engines on GPU backends: true, false, or auto (by measurement); CPUs run fp32"
    )
    model_cache: bool = _option(True, "reuse eyebrow/face results between frames (intermediate cache)")
    model_vram_cache: bool = _option(True, "keep the intermediate cache in GPU memory where the backend can")
    model_cache_size: float = _option(1.0, "intermediate cache size in GB")
    use_cacher: bool = _option(True, "cache finished frames (skips THA3 on a hit)")
    cacher_on_database: bool = _option(False, "keep the frame cache in a SQLite file (survives restarts)")
    cacher_quality: int = _option(85, "JPEG quality of cached frames, 100 = stored uncompressed")
    cacher_ram_size: float = _option(2.0, "RAM frame cache size in GB")
    cacher_db_path: str | None = _option(None, "frame cache file (default: in the user cache folder)")
    # Ours: size cap of the SQLite frame cache (least recently used frames are evicted).
    cacher_db_size: float = _option(4.0, "SQLite frame cache size cap in GB (least recently used evicted)")
    use_interpolation: bool = _option(True, "interpolate frames between THA3 renders")
    interpolation_scale: int = _option(2, "frames out per THA3 frame: 2, 3 or 4")
    interpolation_half: bool = _option(True, "fp16 RIFE file first when one is imported")
    use_tensorrt: bool = _option(True, "prefer TensorRT (else DirectML) when a GPU runtime is installed")
    use_sr: bool = _option(False, "super-resolution of every output frame")
    sr_scale: int = _option(2, "super-resolution factor: 2 or 4")
    sr_half: bool = _option(True, "fp16 SR file first when one is imported")
    sr_model: str = _option("auto", "SR model: auto (imported, else bicubic), bicubic, waifu2x, realesrgan")
    # Ours: a folder with the four stage .onnx files and a manifest (default: the managed engine set).
    model_dir: str | None = _option(None, "THA3 engine set folder (default: the managed one, built on use)")
    # Ours: ONNX Runtime's CUDA provider turns TF32 on by default; off, frames match the CPU render.
    cuda_tf32: bool = _option(
        False, "TF32 convolutions on ONNX Runtime CUDA: faster, frames up to ~35/255 off (docs/gpu.md)"
    )
    # Ours: which CPU runtime to use when no GPU backend runs.
    cpu_backend: str = _option("auto", "CPU runtime: auto, openvino or onnxruntime")
    # Ours: lets users measure how render time scales with cores, and leave cores to OBS.
    cpu_threads: int = _option(0, "threads of the CPU runtime (0 = one per core)")

    @classmethod
    def from_kwargs(cls, **options: Any) -> CoreOptions:
        known = {f.name for f in dataclasses.fields(cls)}
        values: dict[str, Any] = {}
        for name, value in options.items():
            canonical = _ALIASES.get(name, name)
            if canonical not in known:
                raise TypeError(
                    f"get_core() got an unknown option {name!r}; known options: {', '.join(sorted(known))}"
                )
            if canonical in values:
                raise TypeError(f"get_core() got {name!r} and its alias for the same option")
            values[canonical] = value
        result = cls(**values)
        result.validate()
        return result

    @property
    def frames_per_inference(self) -> int:
        """Frames one ``Core.inference`` returns: the interpolation scale, or 1 without interpolation."""
        return self.interpolation_scale if self.use_interpolation else 1

    @property
    def frame_side(self) -> int:
        """Width and height of the frames out: the THA3 frame's, times the SR scale with SR on."""
        return FRAME_SHAPE[0] * (self.sr_scale if self.use_sr else 1)

    def validate(self) -> None:
        _check_int(self, "device_id", minimum=0)
        _check_int(self, "cpu_threads", minimum=0)
        if not (isinstance(self.model_half, bool) or self.model_half == "auto"):
            raise ValueError(f"model_half must be True, False or 'auto', got {self.model_half!r}")
        for name in (
            "model_seperable", "model_cache", "model_vram_cache", "use_cacher",
            "cacher_on_database", "use_interpolation", "interpolation_half", "use_tensorrt",
            "use_sr", "sr_half", "cuda_tf32",
        ):  # fmt: skip
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be True or False, got {getattr(self, name)!r}")
        for name in ("model_cache_size", "cacher_ram_size", "cacher_db_size"):
            value = getattr(self, name)
            is_number = isinstance(value, int | float) and not isinstance(value, bool)
            if not is_number or not math.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be a size in GB >= 0, got {value!r}")
        _check_int(self, "cacher_quality", minimum=0, maximum=100)
        if self.interpolation_scale not in INTERPOLATION_SCALES or isinstance(self.interpolation_scale, bool):
            allowed = ", ".join(map(str, INTERPOLATION_SCALES))
            got = self.interpolation_scale
            raise ValueError(f"interpolation_scale must be one of {allowed}, got {got!r}")
        if self.sr_scale not in SR_SCALES or isinstance(self.sr_scale, bool):
            allowed = ", ".join(map(str, SR_SCALES))
            raise ValueError(f"sr_scale must be one of {allowed}, got {self.sr_scale!r}")
        if self.sr_model not in SR_MODELS:
            raise ValueError(f"sr_model must be one of {', '.join(SR_MODELS)}, got {self.sr_model!r}")
        if self.cpu_backend not in CPU_BACKENDS:
            allowed = ", ".join(CPU_BACKENDS)
            raise ValueError(f"cpu_backend must be one of {allowed}, got {self.cpu_backend!r}")
        for name in ("cacher_db_path", "model_dir"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str | Path):
                raise ValueError(f"{name} must be a path or None, got {value!r}")


def _check_int(options: CoreOptions, name: str, minimum: int, maximum: int | None = None) -> None:
    value = getattr(options, name)
    allowed = f"an integer >= {minimum}" if maximum is None else f"an integer from {minimum} to {maximum}"
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be {allowed}, got {value!r}")
    if value < minimum or (maximum is not None and value > maximum):
        raise ValueError(f"{name} must be {allowed}, got {value!r}")
