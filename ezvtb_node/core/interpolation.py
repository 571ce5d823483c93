"""Frame interpolation: n−1 in-between frames for each pair of THA3 frames (×2, ×3, ×4).

Two interpolators share one interface (`FrameInterpolator`):

* `RifeOnnxInterpolator` runs an imported RIFE graph (ezvtuber-rt layout, see models/layout.py) on
  the core's backend (OpenVINO on a CPU, the GPU runtime where one runs).
* `FlowInterpolator` is the embedded default that needs no weights: dense optical flow (OpenCV DIS)
  both ways between the two frames, both frames warped toward each in-between time, blended with
  weights that drop where forward and backward flow disagree (pixels hidden in the other frame).
  Alpha is warped with the colour, by the same flow, so silhouettes move instead of cross-fading.

`make_interpolator` picks the imported RIFE file for the requested scale when there is one.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from ezvtb_node.core.backends import Backend, to_host
from ezvtb_node.core.frame_models import OnnxFrameModel, check_frame
from ezvtb_node.core.models.layout import FRAME_SHAPE, RIFE_INPUTS, RIFE_SCALES, rife_output_names
from ezvtb_node.core.models.store import find_rife_model

log = logging.getLogger(__name__)

class FrameInterpolator(Protocol):
    """Makes the frames between two uint8 (512,512,4) BGRA frames.

    `interpolate(frame0, frame1)` returns `scale - 1` frames at times (i+1)/scale, i = 0…scale−2,
    excluding both ends. The returned arrays belong to the interpolator and are overwritten by its
    next call: copy them to keep them.
    """

    scale: int

    def interpolate(self, frame0: np.ndarray, frame1: np.ndarray) -> list[np.ndarray]: ...

    def describe(self) -> dict: ...


def intermediate_times(scale: int) -> list[float]:
    return [(i + 1) / scale for i in range(scale - 1)]


def _check_scale(scale: int) -> None:
    if scale not in RIFE_SCALES:
        raise ValueError(f"interpolation scale must be one of {RIFE_SCALES}, got {scale!r}")


class FlowInterpolator:
    """Motion-compensated interpolation from DIS optical flow, computed once per frame pair.

    Flow is estimated on a `flow_size`² copy (luma times alpha, so the silhouette counts as an edge
    even over a transparent background) and applied at full size.
    """

    def __init__(self, scale: int, flow_size: int = 128) -> None:
        _check_scale(scale)
        self.scale = scale
        self.flow_size = flow_size
        self._dis = cv2.DISOpticalFlow.create(cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST)
        # The preset stops refining at 1/4 of its input size. A 128² input refined to its full
        # size scored like a 256² input refined to 1/2 (1.5 dB above the plain preset on 256²
        # THA3 motion) with cheaper low-resolution bookkeeping (benchmarks/interp_quality.py).
        self._dis.setFinestScale(0)
        # Patches every 6 px instead of 4: a quarter less CPU for 0.14 dB.
        self._dis.setPatchStride(6)
        size = FRAME_SHAPE[0]
        ys, xs = np.mgrid[0:flow_size, 0:flow_size].astype(np.float32)
        self._grid = np.dstack([xs, ys])
        # A linear ramp survives a bilinear resize exactly, so a low-res sampling map scaled by
        # size/flow_size (plus the half-pixel centre offset) resizes into the full-res map
        # without a full-res add.
        self._upscale = size / flow_size
        self._grid_full = self._grid * self._upscale + (self._upscale - 1.0) / 2.0
        self._outputs = [np.empty(FRAME_SHAPE, np.uint8) for _ in range(scale - 1)]
        self._warped = (np.empty(FRAME_SHAPE, np.uint8), np.empty(FRAME_SHAPE, np.uint8))

    def describe(self) -> dict:
        return {
            "interpolator": "flow",
            "method": "OpenCV DIS optical flow, bidirectional warp, occlusion-weighted blend",
            "scale": self.scale,
            "flow_size": self.flow_size,
        }

    def _flow_image(self, frame: np.ndarray) -> np.ndarray:
        small = cv2.resize(frame, (self.flow_size, self.flow_size), interpolation=cv2.INTER_AREA)
        gray = cv2.cvtColor(small, cv2.COLOR_BGRA2GRAY)
        return cv2.multiply(gray, small[:, :, 3], scale=1.0 / 255.0)

    def _sample(self, image: np.ndarray, flow: np.ndarray) -> np.ndarray:
        """image sampled at (grid + flow), low resolution."""
        return cv2.remap(
            image, cv2.add(self._grid, flow), None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
        )

    def _visibility(self, flow_ab: np.ndarray, flow_ba: np.ndarray) -> np.ndarray:
        """Per pixel of frame a: ≈1 where going a→b→a returns home (seen in both frames), →0 where
        it does not (hidden in frame b)."""
        dx, dy = cv2.split(cv2.add(flow_ab, self._sample(flow_ba, flow_ab)))
        error2 = cv2.add(cv2.multiply(dx, dx), cv2.multiply(dy, dy))
        return cv2.divide(1.0, cv2.add(error2, 1.0))  # 1 low-res pixel of disagreement halves the weight

    def _full_res_map(self, flow_t: np.ndarray) -> np.ndarray:
        size = FRAME_SHAPE[0]
        low = cv2.scaleAdd(flow_t, self._upscale, self._grid_full)
        return cv2.resize(low, (size, size), interpolation=cv2.INTER_LINEAR)

    def interpolate(self, frame0: np.ndarray, frame1: np.ndarray) -> list[np.ndarray]:
        check_frame("frame0", frame0)
        check_frame("frame1", frame1)
        gray0, gray1 = self._flow_image(frame0), self._flow_image(frame1)
        # cv2's stub wants an array for the output flow; None (OpenCV allocates it) is what its docs use.
        flow01 = self._dis.calc(gray0, gray1, None)  # type: ignore[call-overload]
        flow10 = self._dis.calc(gray1, gray0, None)  # type: ignore[call-overload]
        visible0 = self._visibility(flow01, flow10)
        visible1 = self._visibility(flow10, flow01)
        size = FRAME_SHAPE[0]
        warped0, warped1 = self._warped
        for t, out in zip(intermediate_times(self.scale), self._outputs, strict=True):
            # Flow from time t back to each end, from the two end-to-end flows assuming motion is
            # linear in time (the approximation Super SloMo uses to seed its refinement).
            flow_t0 = (-(1.0 - t) * t) * flow01 + (t * t) * flow10
            flow_t1 = ((1.0 - t) * (1.0 - t)) * flow01 + (-t * (1.0 - t)) * flow10
            # Where the pixel's source in frame 1 has no match in frame 0 (uncovered there), the
            # sample from frame 0 landed on something else: trust frame 1 alone, and vice versa.
            weight0 = (1.0 - t) * self._sample(visible1, flow_t1) + 1e-3
            weight1 = t * self._sample(visible0, flow_t0) + 1e-3
            cv2.remap(frame0, self._full_res_map(flow_t0), None, cv2.INTER_LINEAR, dst=warped0,
                      borderMode=cv2.BORDER_REPLICATE)  # fmt: skip
            cv2.remap(frame1, self._full_res_map(flow_t1), None, cv2.INTER_LINEAR, dst=warped1,
                      borderMode=cv2.BORDER_REPLICATE)  # fmt: skip
            cv2.blendLinear(
                warped0,
                warped1,
                cv2.resize(weight0, (size, size), interpolation=cv2.INTER_LINEAR),
                cv2.resize(weight1, (size, size), interpolation=cv2.INTER_LINEAR),
                dst=out,
            )
        return self._outputs


class CrossFadeInterpolator:
    """Plain per-pixel cross-fade: the baseline the benchmark compares against (no motion)."""

    def __init__(self, scale: int) -> None:
        _check_scale(scale)
        self.scale = scale
        self._outputs = [np.empty(FRAME_SHAPE, np.uint8) for _ in range(scale - 1)]

    def describe(self) -> dict:
        return {"interpolator": "crossfade", "scale": self.scale}

    def interpolate(self, frame0: np.ndarray, frame1: np.ndarray) -> list[np.ndarray]:
        check_frame("frame0", frame0)
        check_frame("frame1", frame1)
        for t, out in zip(intermediate_times(self.scale), self._outputs, strict=True):
            cv2.addWeighted(frame0, 1.0 - t, frame1, t, 0.0, dst=out)
        return self._outputs


class RifeOnnxInterpolator(OnnxFrameModel):
    """An imported RIFE graph: `tha_img_0`, `tha_img_1` → `interpo_0 … interpo_{n-2}` (+ `tha_res`)."""

    def __init__(self, model_path: Path, backend: Backend | None = None) -> None:
        super().__init__(model_path, "rife", backend)
        # tha_res is frame1 itself: only the in-between outputs are read.
        wanted = rife_output_names(self.scale)[:-1]
        self._picks = [self.runner.output_names.index(name) for name in wanted]

    def describe(self) -> dict:
        return {"interpolator": "rife-onnx", **super().describe()}

    def interpolate(self, frame0: np.ndarray, frame1: np.ndarray) -> list[np.ndarray]:
        check_frame("frame0", frame0)
        check_frame("frame1", frame1)
        outputs = self.runner.run(dict(zip(RIFE_INPUTS, (frame0, frame1), strict=True)))
        return [to_host(outputs[i]) for i in self._picks]


def make_interpolator(
    scale: int,
    half: bool = True,
    engines_dir: Path | None = None,
    backend: Backend | None = None,
) -> FrameInterpolator:
    """The imported RIFE model for `scale` (fp16 if `half`, else fp32; the other precision if only
    that one is there) on `backend` (default: the CPU runtime), else the embedded flow interpolator."""
    _check_scale(scale)
    model = find_rife_model(scale, half, engines_dir)
    if model is None:
        log.info("no imported RIFE model for x%d: using the embedded optical-flow interpolator", scale)
        return FlowInterpolator(scale)
    return RifeOnnxInterpolator(model, backend)


class InterpolationStage:
    """Turns a stream of THA3 frames into `scale` output frames per input frame.

    `process(frame)` returns `scale` frames: the `scale - 1` in-between frames from the previous
    input to this one, then this frame itself, so output lags the renderer by one frame. The first
    call after construction or `reset()` (e.g. after a new character image) has nothing to come
    from: it returns the new frame `scale` times, keeping the number of frames per call constant.

    The stage keeps its own copy of the previous frame, because the renderer reuses its output
    array in place; the returned arrays are overwritten by the next call.
    """

    def __init__(self, interpolator: FrameInterpolator) -> None:
        self.interpolator = interpolator
        self.scale = interpolator.scale
        self._previous = np.empty(FRAME_SHAPE, np.uint8)
        self._current = np.empty(FRAME_SHAPE, np.uint8)
        self._repeats = [np.empty(FRAME_SHAPE, np.uint8) for _ in range(self.scale - 1)]
        self._has_previous = False

    def reset(self) -> None:
        self._has_previous = False

    def process(self, frame: np.ndarray) -> list[np.ndarray]:
        check_frame("frame", frame)
        np.copyto(self._current, frame)
        if self._has_previous:
            between = self.interpolator.interpolate(self._previous, self._current)
        else:
            for repeat in self._repeats:
                np.copyto(repeat, frame)
            between = self._repeats
        self._previous, self._current = self._current, self._previous
        self._has_previous = True
        return [*between, self._previous]
