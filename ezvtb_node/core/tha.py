"""The staged THA3 poser: runs the four stage graphs, reusing results whose inputs did not change.

``image`` runs once per character image. ``eyebrow`` depends on pose[0:12] and ``face`` on
pose[0:39]; with the intermediate cache on, a frame whose eyebrow/face parameters repeat (head
turns, breathing) only runs ``body``.

Stages are wired by tensor name: each stage's inputs come from the pose (``eyebrow_pose``,
``face_pose``, ``rotation_pose``) or from an output of an earlier stage. So an engine set may cut
the network differently (the imported ezvtuber-rt sets pass an extra tensor from ``eyebrow`` to
``face``) as long as the names connect.

GPU runners may return device tensors (objects with ``nbytes`` and ``to_host()``) that the next
stage accepts without a host copy; only the final uint8 frame is copied to the host.
"""

from __future__ import annotations

import time

import numpy as np

from ezvtb_node.core.backends import StageRunner, to_host
from ezvtb_node.core.models.layout import STAGES
from ezvtb_node.core.stage_cache import StageCache
from ezvtb_node.pose import EYEBROW_SLICE, FACE_SLICE, ROTATION_SLICE, neutral_pose

POSE_INPUTS = {"eyebrow_pose": EYEBROW_SLICE, "face_pose": FACE_SLICE, "rotation_pose": ROTATION_SLICE}
# The pose values each cached stage's result depends on (its own slice and every earlier one).
_CACHE_KEY_SLICES = {"eyebrow": EYEBROW_SLICE, "face": slice(EYEBROW_SLICE.start, FACE_SLICE.stop)}


class ThaPipeline:
    def __init__(
        self,
        runners: dict[str, StageRunner],
        cache: StageCache | None,
        cache_on_device: bool = True,
    ):
        missing = [stage for stage in STAGES if stage not in runners]
        if missing:
            raise ValueError(f"missing stage runners: {', '.join(missing)}")
        _check_wiring(runners)
        self._runners = runners
        self._cache = cache
        # False: cached results are copied to host RAM (model_vram_cache=False on a GPU backend).
        self._cache_on_device = cache_on_device
        self._image_outputs: dict[str, object] | None = None
        # Seconds spent in each stage by the last render (0 when its result came from the cache).
        self.last_timings: dict[str, float] = dict.fromkeys(STAGES, 0.0)

    @property
    def cache(self) -> StageCache | None:
        return self._cache

    def set_image(self, bgra: np.ndarray) -> None:
        """Run the image-only stage for a new character (uint8 (512,512,4) BGRA, validated by the caller)."""
        start = time.perf_counter()
        runner = self._runners["image"]
        self._image_outputs = dict(zip(runner.output_names, runner.run({"input_image": bgra}), strict=True))
        self.last_timings = dict.fromkeys(STAGES, 0.0)
        self.last_timings["image"] = time.perf_counter() - start
        if self._cache is not None:
            self._cache.clear()

    def render(self, pose: np.ndarray) -> np.ndarray:
        """One THA3 frame, uint8 (512,512,4) BGRA, for a validated float32 (1,45) pose.

        The array may be the runtime's reused host buffer: valid until the next render.
        """
        return self._render(pose, self._cache)

    def warm_up(self) -> np.ndarray:
        """Render the rest pose without touching the cache (a GPU runtime's first run of a graph is
        the slow one); returns that frame, valid until the next render."""
        timings = self.last_timings
        frame = self._render(neutral_pose(), None)
        self.last_timings = timings
        return frame

    def _render(self, pose: np.ndarray, cache: StageCache | None) -> np.ndarray:
        if self._image_outputs is None:
            raise RuntimeError("no character image: call setImage() before inference()")
        self.last_timings = dict.fromkeys(STAGES, 0.0)
        tensors = dict(self._image_outputs)
        for name, pose_slice in POSE_INPUTS.items():
            tensors[name] = pose[:, pose_slice]
        for stage in ("eyebrow", "face"):
            outputs = self._cached(stage, pose[:, _CACHE_KEY_SLICES[stage]], tensors, cache)
            tensors.update(zip(self._runners[stage].output_names, outputs, strict=True))
        start = time.perf_counter()
        (bgra,) = self._run("body", tensors)
        frame = to_host(bgra)
        self.last_timings["body"] = time.perf_counter() - start
        return frame

    def _run(self, stage: str, tensors: dict) -> list:
        runner = self._runners[stage]
        return list(runner.run({name: tensors[name] for name in runner.input_names}))

    def _cached(self, stage: str, key_values: np.ndarray, tensors: dict, cache: StageCache | None) -> list:
        key = (stage, key_values.tobytes())
        runner = self._runners[stage]
        if cache is not None:
            hit = cache.get(key)
            if hit is not None:
                return runner.restore(list(hit))
        start = time.perf_counter()
        outputs = self._run(stage, tensors)
        self.last_timings[stage] = time.perf_counter() - start
        if cache is not None:
            kept = runner.keep(outputs) if self._cache_on_device else [np.array(to_host(o)) for o in outputs]
            cache.put(key, kept)
        return outputs


def _check_wiring(runners: dict[str, StageRunner]) -> None:
    """Every stage input must be a pose slice or an output of an earlier stage."""
    available = set(POSE_INPUTS) | {"input_image"}
    for stage in STAGES:
        runner = runners[stage]
        unresolved = [name for name in runner.input_names if name not in available]
        if unresolved:
            raise ValueError(
                f"stage {stage!r} needs {unresolved}, which no earlier stage produces "
                f"(available: {sorted(available)})"
            )
        available.update(runner.output_names)
    if len(runners["body"].output_names) != 1:
        raise ValueError(f"stage 'body' must have one output (the frame), has {runners['body'].output_names}")
