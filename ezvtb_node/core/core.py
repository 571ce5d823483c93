"""``Core``: the seed's render API (setImage / inference) over the staged THA3 pipeline."""

from __future__ import annotations

import hashlib
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from ezvtb_node.core.backends import Selection, select_backend
from ezvtb_node.core.engines import EngineError, EngineSet, ensure_engine_set, load_engine_set
from ezvtb_node.core.options import CoreOptions
from ezvtb_node.core.stage_cache import StageCache
from ezvtb_node.core.tha import ThaPipeline
from ezvtb_node.mapping.pose import POSE_MAX, POSE_MIN, POSE_SIZE

log = logging.getLogger(__name__)

IMAGE_SHAPE = (512, 512, 4)


def get_core(**options: Any) -> Core:
    """Create a render core. Options and defaults are the seed's (see ``CoreOptions``).

    Raises TypeError for an unknown option and ValueError for a value out of its allowed set.
    The first call on a machine builds the embedded default engine (about a minute on a CPU).
    """
    return Core(CoreOptions.from_kwargs(**options))


class Core:
    """Renders THA3 frames of one character image.

    ``inference()`` returns a list of uint8 (H, W, 4) BGRA frames. The arrays belong to the core
    and are overwritten in place by the next call: copy them to keep them.
    """

    def __init__(self, options: CoreOptions):
        self.options = options
        self._selection: Selection = select_backend(
            options.use_tensorrt, options.device_id, options.cpu_backend
        )
        self.engine: EngineSet = self._resolve_engine()
        backend = self._selection.backend
        runners = {
            stage: backend.load(self.engine.stage_path(stage))
            for stage in ("image", "eyebrow", "face", "body")
        }
        _check_stage_io(self.engine, runners)
        stage_cache = StageCache(int(options.model_cache_size * 1e9)) if options.model_cache else None
        # Intermediates stay in device memory only where the backend has it and the user wants it.
        self._cache_on_device = _keeps_device_tensors(backend) and options.model_vram_cache
        self._pipeline = ThaPipeline(runners, stage_cache, cache_on_device=self._cache_on_device)
        self._outputs: list[np.ndarray] = [np.zeros(IMAGE_SHAPE, np.uint8)]
        self.image_digest: str | None = None
        self._frames = 0
        self._render_seconds = 0.0

    # -- the seed's API -------------------------------------------------------------------------
    def setImage(self, img: np.ndarray) -> None:
        """Set the character: uint8 (512, 512, 4) BGRA with straight alpha.

        Pixels whose alpha is 0 are zeroed (as THA3 expects). Every cached result that depended on
        the previous image is dropped.
        """
        image = _validated_image(img)
        self.image_digest = hashlib.blake2b(image.tobytes(), digest_size=16).hexdigest()
        self._pipeline.set_image(image)

    def inference(self, pose: np.ndarray) -> list[np.ndarray]:
        """Render ``pose`` (float32 (1, 45); (45,) and float64 accepted; values clamped to THA3 ranges)."""
        pose = _validated_pose(pose)
        start = time.perf_counter()
        frame = self._pipeline.render(pose)
        self._render_seconds += time.perf_counter() - start
        self._frames += 1
        np.copyto(self._outputs[0], frame)
        return self._outputs

    # -- what runs -------------------------------------------------------------------------------
    def describe(self) -> dict:
        """What really runs: backend, provider, device, variant, precision, caches, extras."""
        o = self.options
        backend = self._selection.backend
        stage_cache = self._pipeline.cache
        return {
            "backend": backend.name,
            "provider": backend.provider,
            "device": backend.device,
            "requested_backend": self._selection.requested,
            "fallback_reason": self._selection.fallback_reason,
            "variant": self.engine.variant,
            "precision": self.engine.precision,
            "requested_precision": "fp16" if o.model_half else "fp32",
            "engine_path": str(self.engine.path),
            "engine_id": self.engine.identity,
            "model_cache": {
                "enabled": stage_cache is not None,
                "where": (None if stage_cache is None else "device" if self._cache_on_device else "ram"),
                "max_bytes": stage_cache.max_bytes if stage_cache is not None else 0,
                "note": (
                    "this backend keeps intermediates in host RAM"
                    if o.model_vram_cache and not self._cache_on_device
                    else None
                ),
            },
            "cacher": {"enabled": False, "note": "frame cacher not available in this build"},
            "interpolation": {"enabled": False, "note": "interpolation not available in this build"},
            "sr": {"enabled": False, "note": "super-resolution not available in this build"},
        }

    def stats(self) -> dict:
        """Counters for monitoring: frames rendered, mean render time, cache statistics."""
        stage_cache = self._pipeline.cache
        return {
            "frames": self._frames,
            "render_ms_mean": 1000 * self._render_seconds / self._frames if self._frames else 0.0,
            "last_stage_ms": {k: 1000 * v for k, v in self._pipeline.last_timings.items()},
            "model_cache": stage_cache.stats() if stage_cache is not None else None,
        }

    # -- internals -------------------------------------------------------------------------------
    def _resolve_engine(self) -> EngineSet:
        o = self.options
        if o.model_dir is not None:
            try:
                return load_engine_set(Path(o.model_dir))
            except EngineError as exc:
                raise ValueError(f"model_dir {o.model_dir}: {exc}") from exc
        variant = "separable" if o.model_seperable else "standard"
        half = o.model_half and self._selection.backend.prefers_half
        if o.model_half and not half:
            log.info("fp16 requested; %s runs fp32 (faster on a CPU)", self._selection.backend.name)
        try:
            return ensure_engine_set(variant, "fp16" if half else "fp32")
        except EngineError as exc:
            raise RuntimeError(f"no THA3 engine: {exc}") from exc


def _keeps_device_tensors(backend) -> bool:
    return bool(getattr(backend, "device_tensors", False))


def _check_stage_io(engine: EngineSet, runners: dict) -> None:
    from ezvtb_node.core.export import STAGE_IO

    # Imported sets cut the network differently and record their own stage I/O in the manifest.
    declared = engine.manifest.get("io") or {}
    for stage, runner in runners.items():
        if stage in declared:
            expected_inputs, expected_outputs = declared[stage]["inputs"], tuple(declared[stage]["outputs"])
        else:
            expected_inputs, expected_outputs = STAGE_IO[stage]
        if set(runner.input_names) != set(expected_inputs) or tuple(runner.output_names) != expected_outputs:
            raise ValueError(
                f"{engine.stage_path(stage)} has inputs {list(runner.input_names)} and outputs "
                f"{list(runner.output_names)}; expected inputs {list(expected_inputs)} and outputs "
                f"{list(expected_outputs)}"
            )


def _validated_image(img: Any) -> np.ndarray:
    if not isinstance(img, np.ndarray):
        raise ValueError(
            f"setImage expects a numpy uint8 array of shape (512, 512, 4) BGRA, got {type(img).__name__}"
        )
    if img.dtype != np.uint8 or img.shape != IMAGE_SHAPE:
        raise ValueError(f"setImage expects uint8 (512, 512, 4) BGRA, got {img.dtype} {img.shape}")
    image = np.ascontiguousarray(img).copy()
    image[image[:, :, 3] == 0] = 0
    return image


def _validated_pose(pose: Any) -> np.ndarray:
    array = np.asarray(pose)
    if array.dtype.kind not in "fiu":
        raise ValueError(f"inference expects a float32 pose of shape (1, 45), got dtype {array.dtype}")
    if array.size != POSE_SIZE or array.shape not in ((1, POSE_SIZE), (POSE_SIZE,)):
        raise ValueError(
            f"inference expects a float32 pose of shape (1, 45) or (45,), got shape {array.shape}"
        )
    array = array.astype(np.float32).reshape(1, POSE_SIZE)
    if not np.isfinite(array).all():
        bad = [int(i) for i in np.flatnonzero(~np.isfinite(array[0]))]
        raise ValueError(f"inference expects finite pose values, got NaN/inf at indices {bad}")
    return np.clip(array, POSE_MIN, POSE_MAX)
