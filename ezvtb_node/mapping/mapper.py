"""The node's mapping stage: channels in, a finished (1, 45) float32 THA3 pose out.

``Mapper`` owns the state around a :class:`Mapping`: neutral calibration, idle easing when tracking
is lost, the One Euro filter, automatic blinks, breathing, quantization, and hot reload of the
file. One thread calls ``update`` and ``reload_if_changed`` (the node's mapping loop);
``calibrate_neutral`` may come from another (an OSC or HTTP handler): it only swaps in a new
neutral table, which ``update`` picks up on its next frame.

Order per frame: calibrate channels → evaluate the mapping → ease toward rest while lost → filter →
auto blink → breathing → quantize → clip to the THA3 ranges.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping as MappingABC
from pathlib import Path

import numpy as np

from ezvtb_node.channels import EYE_CHANNELS, HEAD_CHANNELS
from ezvtb_node.mapping.filters import OneEuroFilter, Quantizer
from ezvtb_node.mapping.mapping import Mapping, load_mapping
from ezvtb_node.mapping.motion import AutoBlink, Presence, breathing
from ezvtb_node.mapping.schema import MappingError
from ezvtb_node.pose import POSE_INDEX, POSE_MAX, POSE_MIN, POSE_SIZE

log = logging.getLogger(__name__)

# Angles and positions are calibrated by subtraction; blendshapes (0..1) by rescaling the rest of
# their range, so a resting face reads 0 and a full expression still reaches 1.
_OFFSET_CHANNELS = frozenset(HEAD_CHANNELS + EYE_CHANNELS)
_BREATHING = POSE_INDEX["breathing"]
_WINKS = [POSE_INDEX["eye_wink_left"], POSE_INDEX["eye_wink_right"]]

CALIBRATE_OSC_ADDRESS = "/ezvtb/calibrate"
CALIBRATE_HTTP_PATH = "/api/calibrate"


class Mapper:
    """Stateful channels → pose converter built on a mapping file.

    ``filters=False`` turns off the One Euro filter only (``mappings apply --no-filters``);
    breathing, blinking and quantization follow the file.
    """

    def __init__(self, mapping: Mapping | str | Path, filters: bool = True) -> None:
        self.use_filters = filters
        self._last_channels: dict[str, float] = {}
        self._captured_neutral: dict[str, float] = {}
        self._last_raw = np.zeros(POSE_SIZE)
        self._file_state: tuple[int, int] | None = None
        self._next_check = 0.0
        self._install(mapping if isinstance(mapping, Mapping) else load_mapping(mapping))
        self._file_state = self._stat()

    @property
    def mapping(self) -> Mapping:
        return self._mapping

    def _install(self, mapping: Mapping) -> None:
        settings = mapping.settings
        self._mapping = mapping
        self._filter = OneEuroFilter(
            settings.filters.min_cutoff, settings.filters.beta, settings.filters.d_cutoff
        )
        self._filter_on = self.use_filters and settings.filters.enabled
        self._quantize = Quantizer(settings.quantize_steps)
        self._presence = Presence(settings.idle_ease_s)
        self._blink = (
            AutoBlink(settings.auto_blink_interval, settings.auto_blink_duration, settings.auto_blink_jitter)
            if settings.auto_blink_interval is not None
            else None
        )
        self._rebuild_neutral()

    def _rebuild_neutral(self) -> None:
        neutral = {**self._mapping.settings.neutral, **self._captured_neutral}
        # (index in mapping.channels, neutral value, is an offset channel)
        self._neutral = [
            (i, neutral[name], name in _OFFSET_CHANNELS)
            for i, name in enumerate(self._mapping.channels)
            if name in neutral and neutral[name] != 0.0
        ]

    # ------------------------------------------------------------------ per frame

    def update(self, channels: MappingABC[str, float], t: float, lost: bool = False) -> np.ndarray:
        """The pose for one tracking frame at time ``t`` (s); ``lost`` when the tracker has no face."""
        if not lost:
            self._last_channels = dict(channels)
            get = channels.get
            values = [get(name, 0.0) for name in self._mapping.channels]
            for i, rest, is_offset in self._neutral:
                if is_offset:
                    values[i] -= rest
                elif rest < 1.0:
                    values[i] = max(0.0, (values[i] - rest) / (1.0 - rest))
            raw = self._mapping.evaluate_values(values)
            if not np.isfinite(raw).all():  # a NaN from the tracker must not reach the renderer
                raw = np.where(np.isfinite(raw), raw, self._last_raw)
            self._last_raw = raw
        presence = self._presence(lost, t)
        pose = self._last_raw * presence if presence < 1.0 else self._last_raw.copy()
        if self._filter_on:
            pose = self._filter(pose, t)
        if self._blink is not None:
            closure = self._blink(t)
            if closure:
                pose[_WINKS] = np.maximum(pose[_WINKS], closure)
        period = self._mapping.settings.breathing_period
        if period is not None:
            pose[_BREATHING] = breathing(t, period)
        pose = self._quantize(pose)
        np.maximum(pose, POSE_MIN, out=pose)
        np.minimum(pose, POSE_MAX, out=pose)
        return pose.astype(np.float32).reshape(1, POSE_SIZE)

    # ------------------------------------------------------------------ calibration

    def calibrate_neutral(self, channels: MappingABC[str, float] | None = None) -> dict[str, float]:
        """Take ``channels`` (default: the latest tracked frame) as the neutral face; returns it.

        The node wires this to the OSC message ``/ezvtb/calibrate`` and ``POST /api/calibrate``.
        """
        source = self._last_channels if channels is None else channels
        self._captured_neutral = {
            name: float(source[name]) for name in self._mapping.channels if name in source
        }
        self._rebuild_neutral()
        log.info("neutral calibrated on %d channels", len(self._captured_neutral))
        return dict(self._captured_neutral)

    def clear_calibration(self) -> None:
        """Forget the captured neutral (the file's [calibration] neutral still applies)."""
        self._captured_neutral = {}
        self._rebuild_neutral()

    # ------------------------------------------------------------------ hot reload

    def _stat(self) -> tuple[int, int] | None:
        try:
            info = os.stat(self._mapping.path)
        except OSError:
            return None
        return (info.st_mtime_ns, info.st_size)

    def reload_if_changed(self, min_interval: float = 0.25) -> bool:
        """Reload the file if it changed on disk; returns True when a new mapping is in use.

        Cheap enough to call every frame: the file is looked at most every ``min_interval``
        seconds. An invalid edit keeps the running mapping and logs why, once per edit.
        """
        now = time.monotonic()
        if now < self._next_check:
            return False
        self._next_check = now + min_interval
        state = self._stat()
        if state is None or state == self._file_state:
            return False
        self._file_state = state
        try:
            mapping = load_mapping(self._mapping.path)
        except MappingError as exc:
            log.warning("mapping not reloaded, keeping the previous one: %s", exc)
            return False
        self._install(mapping)
        log.info("mapping reloaded from %s", mapping.path)
        return True
