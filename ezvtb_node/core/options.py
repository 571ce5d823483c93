"""The options of ``get_core()``: the seed's names and defaults, validated with clear errors."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

INTERPOLATION_SCALES = (2, 3, 4)
SR_SCALES = (2, 4)
CPU_BACKENDS = ("auto", "openvino", "onnxruntime")

# Spelling of the seed ("seperable") is the contract; the correct spelling is accepted too.
_ALIASES = {"model_separable": "model_seperable"}


@dataclass(frozen=True)
class CoreOptions:
    """Every option of the seed's ``get_core``, plus ours (``model_dir``, ``cpu_backend``, SR).

    Sizes are in GB (10**9 bytes), as in the seed.
    """

    device_id: int = 0
    model_seperable: bool = True
    model_half: bool = True
    model_cache: bool = True
    model_vram_cache: bool = True
    model_cache_size: float = 1.0
    use_cacher: bool = True
    cacher_on_database: bool = False
    cacher_quality: int = 85
    cacher_ram_size: float = 2.0
    cacher_db_path: str | None = None
    # Ours: size cap of the SQLite frame cache (least recently used frames are evicted).
    cacher_db_size: float = 4.0
    use_interpolation: bool = True
    interpolation_scale: int = 2
    interpolation_half: bool = True
    use_tensorrt: bool = True
    use_sr: bool = False
    sr_scale: int = 2
    sr_half: bool = True
    sr_model: str = "auto"
    # Ours: a folder with the four stage .onnx files and a manifest (default: the managed engine set).
    model_dir: str | None = None
    # Ours: which CPU runtime to use when no GPU backend runs.
    cpu_backend: str = "auto"

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

    def validate(self) -> None:
        _check_int(self, "device_id", minimum=0)
        for name in (
            "model_seperable", "model_half", "model_cache", "model_vram_cache", "use_cacher",
            "cacher_on_database", "use_interpolation", "interpolation_half", "use_tensorrt",
            "use_sr", "sr_half",
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
            raise ValueError(f"interpolation_scale must be one of 2, 3, 4, got {self.interpolation_scale!r}")
        if self.sr_scale not in SR_SCALES or isinstance(self.sr_scale, bool):
            raise ValueError(f"sr_scale must be one of 2, 4, got {self.sr_scale!r}")
        from ezvtb_node.core.sr import SR_MODELS

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
