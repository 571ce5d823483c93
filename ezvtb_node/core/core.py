"""``Core``: the seed's render API (setImage / inference) over the staged THA3 pipeline."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from ezvtb_node.core.backends import BackendUnavailable, Selection, fail_over, select_backend
from ezvtb_node.core.cacher import FrameCacher, image_digest
from ezvtb_node.core.interpolation import InterpolationStage, make_interpolator
from ezvtb_node.core.models.layout import STAGE_IO, STAGES
from ezvtb_node.core.models.store import EngineError, EngineSet, load_engine_set
from ezvtb_node.core.models.tha3_build import ensure_engine_set
from ezvtb_node.core.options import CoreOptions
from ezvtb_node.core.precision import PrecisionChoice, choose_precision
from ezvtb_node.core.sr import make_upscaler
from ezvtb_node.core.stage_cache import StageCache
from ezvtb_node.core.tha import ThaPipeline
from ezvtb_node.pose import POSE_MAX, POSE_MIN, POSE_SIZE

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
            options.use_tensorrt,
            options.device_id,
            options.cpu_backend,
            options.cpu_threads,
            options.cuda_tf32,
        )
        try:
            runners = self._load_stages()
        except BackendUnavailable as exc:
            # The runtime imported but cannot compute on its device: run on the CPU, saying why.
            self._selection = fail_over(self._selection, str(exc), options.cpu_backend, options.cpu_threads)
            runners = self._load_stages()
        backend = self._selection.backend
        _check_stage_io(self.engine, runners)
        stage_cache = StageCache(int(options.model_cache_size * 1e9)) if options.model_cache else None
        # Intermediates stay in device memory only where the backend has it and the user wants it.
        self._cache_on_device = _keeps_device_tensors(backend) and options.model_vram_cache
        self._pipeline = ThaPipeline(runners, stage_cache, cache_on_device=self._cache_on_device)
        # What besides the pose decides the pixels: the engine files and the runtime (runtimes may
        # round differently by a level). The frame cacher keys on it.
        self.engine_id = f"{self.engine.identity}-{backend.name}"
        self._cacher = (
            FrameCacher(
                on_database=options.cacher_on_database,
                quality=options.cacher_quality,
                ram_size_gb=options.cacher_ram_size,
                db_path=options.cacher_db_path,
                db_size_gb=options.cacher_db_size,
            )
            if options.use_cacher
            else None
        )
        # Imported RIFE and SR graphs run where THA3 runs.
        self._interpolation = (
            InterpolationStage(
                make_interpolator(options.interpolation_scale, options.interpolation_half, backend=backend)
            )
            if options.use_interpolation
            else None
        )
        self._upscaler = (
            make_upscaler(options.sr_model, options.sr_scale, options.sr_half, backend=backend)
            if options.use_sr
            else None
        )
        side = options.frame_side
        self._outputs: list[np.ndarray] = [
            np.zeros((side, side, 4), np.uint8) for _ in range(options.frames_per_inference)
        ]
        self.image_digest: str | None = None
        # GPU runtimes do their one-time work (kernel loading, cuDNN algorithm choice, allocations)
        # on the first run of each stage: setImage does it, so the first live frame is not the slow one.
        self._warm_up = backend.device != "cpu"
        self._warm_up_seconds = 0.0
        self._frames = 0
        self._render_seconds = 0.0

    # -- the seed's API -------------------------------------------------------------------------
    def setImage(self, img: np.ndarray) -> None:
        """Set the character: uint8 (512, 512, 4) BGRA with straight alpha.

        Pixels whose alpha is 0 are zeroed (as THA3 expects). Every cached result that depended on
        the previous image is dropped.
        """
        image = _validated_image(img)
        self.image_digest = image_digest(image)
        self._pipeline.set_image(image)
        if self._warm_up:
            self._warm_up_graphs()
        if self._interpolation is not None:
            self._interpolation.reset()
        if self._cacher is not None:
            self._cacher.set_context(self.image_digest, self.engine_id)

    def inference(self, pose: np.ndarray) -> list[np.ndarray]:
        """Render ``pose`` (float32 (1, 45); (45,) and float64 accepted; values clamped to THA3 ranges).

        Returns one frame, or ``interpolation_scale`` frames with interpolation on: the in-between
        frames from the previous THA3 frame, then the new THA3 frame (output lags one THA3 frame;
        the first call after ``setImage`` returns the new frame that many times).
        """
        pose = _validated_pose(pose)
        start = time.perf_counter()
        frame = self._cached_or_rendered(pose)
        frames = self._interpolation.process(frame) if self._interpolation is not None else [frame]
        for out, result in zip(self._outputs, frames, strict=True):
            np.copyto(out, self._upscaler.upscale(result) if self._upscaler is not None else result)
        self._render_seconds += time.perf_counter() - start
        self._frames += 1
        return self._outputs

    def close(self) -> None:
        """Store what the frame cacher still holds and release it. Safe to call twice."""
        if self._cacher is not None:
            self._cacher.close()

    def __enter__(self) -> Core:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _warm_up_graphs(self) -> None:
        """Run every graph once (THA3 on the rest pose, then RIFE and SR on that frame, which run on
        the same backend): nothing is cached and the interpolation keeps no previous frame."""
        start = time.perf_counter()
        frame = self._pipeline.warm_up()
        if self._interpolation is not None:
            self._interpolation.interpolator.interpolate(frame, frame)
        if self._upscaler is not None:
            self._upscaler.upscale(frame)
        self._warm_up_seconds = time.perf_counter() - start

    def _cached_or_rendered(self, pose: np.ndarray) -> np.ndarray:
        if self._cacher is None:
            return self._pipeline.render(pose)
        if self.image_digest is None:
            raise RuntimeError("no character image: call setImage() before inference()")
        hit = self._cacher.get(pose)
        if hit is not None:
            return hit
        # Every pose of a cache bucket must show the same picture: render the bucket's centre.
        frame = self._pipeline.render(self._cacher.snap(pose))
        self._cacher.put(pose, frame)
        return frame

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
            # ONNX Runtime GPU providers: where CUDA/cuDNN came from, how results are copied, and
            # which stages replay a CUDA graph (or why not).
            "runtime_notes": {
                key: getattr(backend, attribute)
                for key, attribute in (
                    ("libraries", "library_note"),
                    ("copies", "copy_note"),
                    ("cuda_graphs", "graph_notes"),
                )
                if getattr(backend, attribute, None)
            },
            "variant": self.engine.variant,
            "precision": self.engine.precision,
            "precision_reason": (
                self.precision_choice.reason if o.model_dir is None else f"the set in model_dir {o.model_dir}"
            ),
            "requested_precision": _requested_precision(o.model_half),
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
            "cacher": {
                "enabled": self._cacher is not None,
                "where": ("sqlite" if o.cacher_on_database else "ram") if self._cacher is not None else None,
                "quality": o.cacher_quality,
                "db_path": self._cacher.stats()["db_path"] if self._cacher is not None else None,
            },
            "interpolation": {
                "enabled": self._interpolation is not None,
                "scale": o.interpolation_scale if self._interpolation is not None else 1,
                **(self._interpolation.interpolator.describe() if self._interpolation is not None else {}),
            },
            "sr": {
                "enabled": self._upscaler is not None,
                **(self._upscaler.describe() if self._upscaler is not None else {}),
            },
        }

    def stats(self) -> dict:
        """Counters for monitoring: frames rendered, mean render time, cache statistics."""
        stage_cache = self._pipeline.cache
        return {
            "frames": self._frames,
            "render_ms_mean": 1000 * self._render_seconds / self._frames if self._frames else 0.0,
            "last_stage_ms": {k: 1000 * v for k, v in self._pipeline.last_timings.items()},
            # The rest-pose render setImage did on a GPU backend (0 on the CPU: none there).
            "warm_up_ms": 1000 * self._warm_up_seconds,
            "model_cache": stage_cache.stats() if stage_cache is not None else None,
            "cacher": self._cacher.stats() if self._cacher is not None else None,
        }

    # -- internals -------------------------------------------------------------------------------
    def _load_stages(self) -> dict:
        """The stage runners on the selected backend, with the precision chosen for that backend."""
        backend = self._selection.backend
        self.precision_choice: PrecisionChoice = choose_precision(
            backend.name, self.options.model_half, backend.prefers_half
        )
        self.engine: EngineSet = self._resolve_engine()
        return {stage: backend.load(self.engine.stage_path(stage)) for stage in STAGES}

    def _resolve_engine(self) -> EngineSet:
        o = self.options
        if o.model_dir is not None:
            try:
                return load_engine_set(Path(o.model_dir))
            except EngineError as exc:
                raise ValueError(f"model_dir {o.model_dir}: {exc}") from exc
        variant = "separable" if o.model_seperable else "standard"
        choice = self.precision_choice
        log.info("THA3 %s on %s: %s", choice.precision, self._selection.backend.name, choice.reason)
        try:
            return ensure_engine_set(variant, choice.precision)
        except EngineError as exc:
            raise RuntimeError(f"no THA3 engine: {exc}") from exc


def _keeps_device_tensors(backend) -> bool:
    return bool(getattr(backend, "device_tensors", False))


def _check_stage_io(engine: EngineSet, runners: dict) -> None:
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


def _requested_precision(model_half: bool | str) -> str:
    """What ``model_half`` asks for, in the words of ``describe()``: fp16, fp32 or auto."""
    if isinstance(model_half, bool):
        return "fp16" if model_half else "fp32"
    return model_half
