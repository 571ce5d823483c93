"""The staged THA3 poser: runs the four stage graphs, reusing results whose inputs did not change.

``image`` runs once per character image. ``eyebrow`` depends on pose[0:12] and ``face`` on
pose[0:39]; with the intermediate cache on, a frame whose eyebrow/face parameters repeat (head
turns, breathing) only runs ``body``.
"""

from __future__ import annotations

import time

import numpy as np

from ezvtb_node.core.backends import StageRunner
from ezvtb_node.core.stage_cache import StageCache
from ezvtb_node.mapping.pose import EYEBROW_SLICE, FACE_SLICE, ROTATION_SLICE

STAGES = ("image", "eyebrow", "face", "body")
_FACE_KEY_SLICE = slice(EYEBROW_SLICE.start, FACE_SLICE.stop)


class ThaPipeline:
    def __init__(self, runners: dict[str, StageRunner], cache: StageCache | None):
        missing = [stage for stage in STAGES if stage not in runners]
        if missing:
            raise ValueError(f"missing stage runners: {', '.join(missing)}")
        self._runners = runners
        self._cache = cache
        self._image_outputs: list[np.ndarray] | None = None
        # Seconds spent in each stage by the last render (0 when its result came from the cache).
        self.last_timings: dict[str, float] = dict.fromkeys(STAGES, 0.0)

    @property
    def cache(self) -> StageCache | None:
        return self._cache

    def set_image(self, bgra: np.ndarray) -> None:
        """Run the image-only stage for a new character (uint8 (512,512,4) BGRA, validated by the caller)."""
        start = time.perf_counter()
        self._image_outputs = self._runners["image"].run({"input_image": bgra})
        self.last_timings = dict.fromkeys(STAGES, 0.0)
        self.last_timings["image"] = time.perf_counter() - start
        if self._cache is not None:
            self._cache.clear()

    def render(self, pose: np.ndarray) -> np.ndarray:
        """One THA3 frame, uint8 (512,512,4) BGRA, for a validated float32 (1,45) pose."""
        if self._image_outputs is None:
            raise RuntimeError("no character image: call setImage() before inference()")
        prepared, background_layer, eyebrow_layer = self._image_outputs
        self.last_timings = dict.fromkeys(STAGES, 0.0)
        (eyebrow_image,) = self._cached(
            "eyebrow",
            pose[:, EYEBROW_SLICE],
            lambda: {
                "background_layer": background_layer,
                "eyebrow_layer": eyebrow_layer,
                "eyebrow_pose": pose[:, EYEBROW_SLICE],
            },
        )
        face_full, face_half = self._cached(
            "face",
            pose[:, _FACE_KEY_SLICE],
            lambda: {
                "image_prepared": prepared,
                "eyebrow_image": eyebrow_image,
                "face_pose": pose[:, FACE_SLICE],
            },
        )
        start = time.perf_counter()
        (bgra,) = self._runners["body"].run(
            {
                "face_morphed_full": face_full,
                "face_morphed_half": face_half,
                "rotation_pose": pose[:, ROTATION_SLICE],
            }
        )
        self.last_timings["body"] = time.perf_counter() - start
        return bgra

    def _cached(self, stage: str, key_values: np.ndarray, feeds) -> list[np.ndarray]:
        key = (stage, key_values.tobytes())
        if self._cache is not None:
            hit = self._cache.get(key)
            if hit is not None:
                return list(hit)
        start = time.perf_counter()
        outputs = self._runners[stage].run(feeds())
        self.last_timings[stage] = time.perf_counter() - start
        if self._cache is not None:
            self._cache.put(key, outputs)
        return outputs
