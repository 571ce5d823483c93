"""iFacialMocap (and Facemotion3D) receiver: one UTF-8 text datagram per frame, port 49983.

A packet is ``name<sep>value|...|=head#rx,ry,rz,tx,ty,tz|rightEye#rx,ry,rz|leftEye#rx,ry,rz|`` with
``<sep>`` ``-`` (v1) or ``&`` (v2), detected per packet. Blendshape values 0-100 become 0-1 and
``_L``/``_R`` become ``Left``/``Right``; all 52 ARKit channels are present (missing ones are 0).
Angles pass through in the app's own degrees and signs: ``head.pitch|yaw|roll`` = rx, ry, rz,
``head.x|y|z`` = tx, ty, tz, ``eye.right|left.pitch|yaw`` = the eye's rx, ry.

A pose item that cannot be used (``=head#`` with a value missing or NaN, …) is counted and its
channels keep the sender's last good values, so one bad item does not snap the head to the centre;
``reset()`` (another sender, or the source went lost) forgets them.

Active mode (``phone=...``) sends the app's start string to the phone every second until frames
flow (and again after they stop); passive mode only listens.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable

from ezvtb_node.channels import ARKIT_BLENDSHAPES
from ezvtb_node.inputs.names import arkit_channel
from ezvtb_node.inputs.source import DEFAULT_LOST_AFTER_S, Counters, FrameCallback, RateLimitedLog
from ezvtb_node.inputs.tracking import TrackingFrame
from ezvtb_node.inputs.udp import DatagramTap, UdpReceiver
from ezvtb_node.sources import FACEMOTION3D, IFACIALMOCAP

DEFAULT_PORT = 49983
START_STRING = "iFacialMocap_sahuasouryya9218sauhuiayeta91555dy3719|sendDataVersion=v2"
FACEMOTION3D_PORT = 49993
FACEMOTION3D_START_STRING = "FACEMOTION3D_OtherStreaming"
HANDSHAKE_INTERVAL_S = 1.0

_POSE_KEYS = {
    "head": ("head.pitch", "head.yaw", "head.roll", "head.x", "head.y", "head.z"),
    "righteye": ("eye.right.pitch", "eye.right.yaw"),
    "lefteye": ("eye.left.pitch", "eye.left.yaw"),
}
_POSE_VALUE_COUNTS = {"head": 6, "righteye": 3, "lefteye": 3}
_ZEROS = dict.fromkeys(ARKIT_BLENDSHAPES, 0.0)

_log = logging.getLogger(__name__)


class IFacialMocapDecoder:
    """Parses one iFacialMocap/Facemotion3D text packet into one frame; keeps the last good pose."""

    COUNTERS = (
        "packets",
        "bad_utf8",
        "bad_item",
        "unknown_name",
        "non_finite",
        "out_of_range",
        "empty",
        "handshakes_failed",
    )

    def __init__(self, source: str = IFACIALMOCAP) -> None:
        self.source = source
        self.counters = Counters(self.COUNTERS)
        self._warn = RateLimitedLog(_log)
        self._last_pose: dict[str, dict[str, float]] = {}  # pose key -> its last good channels

    def reset(self) -> None:
        """Forget the last good pose (a new sender starts)."""
        self._last_pose = {}

    def carries_state(self, data: bytes) -> bool:
        return True  # the protocol has no commands: every datagram is the phone's

    def feed(self, data: bytes, received_at: float) -> list[TrackingFrame]:
        self.counters.add("packets")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            self._bad("bad_utf8", "a packet that is not UTF-8 text")
            return []
        separator = "&" if "&" in text else "-"
        channels = dict(_ZEROS)
        parsed = 0
        for item in text.split("|"):
            if not item:
                continue
            ok = self._pose(item, channels) if "#" in item else self._blend(item, separator, channels)
            parsed += ok
        if not parsed:
            self._bad("empty", "a packet without any valid value")
            return []
        return [TrackingFrame(self.source, channels, received_at, received_at)]

    def _bad(self, reason: str, what: str) -> None:
        self.counters.add(reason)
        self._warn.warning(reason, f"{self.source}: ignored {what}")

    def _number(self, text: str, item: str) -> float | None:
        try:
            value = float(text)
        except ValueError:
            self._bad("bad_item", f"{item[:60]!r}: expected a number after the name")
            return None
        if not math.isfinite(value):
            self._bad("non_finite", f"{item[:60]!r}: NaN or infinite value")
            return None
        return value

    def _blend(self, item: str, separator: str, channels: dict[str, float]) -> bool:
        name, found, text = item.rpartition(separator)
        if not found:
            self._bad("bad_item", f"{item[:60]!r}: expected name{separator}value")
            return False
        channel = arkit_channel(name)
        if channel is None:
            # Facemotion3D's FM_* extras are expected; anything else is worth a counter.
            if not name.startswith("FM_"):
                self._bad("unknown_name", f"unknown blendshape {name[:40]!r}")
            return False
        value = self._number(text, item)
        if value is None:
            return False
        if not 0.0 <= value <= 100.0:
            self._bad("out_of_range", f"{item[:60]!r}: expected 0-100 (clamped)")
            value = min(100.0, max(0.0, value))
        channels[channel] = value / 100.0
        return True

    def _pose(self, item: str, channels: dict[str, float]) -> bool:
        key, _, text = item.partition("#")
        key = key.lstrip("=").lower()
        names = _POSE_KEYS.get(key)
        if names is None:
            self._bad("unknown_name", f"unknown pose {key[:40]!r}")
            return False
        parts = text.split(",")
        if len(parts) < _POSE_VALUE_COUNTS[key]:
            self._bad("bad_item", f"{item[:60]!r}: expected {_POSE_VALUE_COUNTS[key]} comma-separated values")
            channels.update(self._last_pose.get(key, {}))
            return False
        values = [self._number(part, item) for part in parts[: len(names)]]
        if None in values:
            channels.update(self._last_pose.get(key, {}))
            return False
        good = dict(zip(names, values, strict=True))
        channels.update(good)
        self._last_pose[key] = good
        return True


class IFacialMocapReceiver(UdpReceiver):
    """iFacialMocap receiver.

    ``phone``: the phone's IP address for active mode (we send the start string to its
    ``phone_port``, by default the protocol's port, and unless ``host`` is given listen on all
    interfaces); None for passive mode on ``host`` (default
    127.0.0.1, e.g. for the PC version of the app). ``allow_from``: accepted sender addresses.
    ``facemotion3d=True`` speaks the Facemotion3D variant (port 49993, its own start string).
    """

    PORT_CULPRITS = "another ezvtb-node, another iFacialMocap receiver (VSeeFace, VBridger, a THA demo)"
    max_datagram = 8192  # a full frame is about 1.2 KB

    def __init__(
        self,
        host: str | None = None,
        port: int | None = None,
        *,
        phone: str | None = None,
        phone_port: int | None = None,
        allow_from: Iterable[str] | None = None,
        facemotion3d: bool = False,
        handshake_interval: float = HANDSHAKE_INTERVAL_S,
        lost_after: float = DEFAULT_LOST_AFTER_S,
        on_frame: FrameCallback | None = None,
        tap: DatagramTap | None = None,
    ) -> None:
        self.name = FACEMOTION3D if facemotion3d else IFACIALMOCAP
        default_port = FACEMOTION3D_PORT if facemotion3d else DEFAULT_PORT
        if host is None:
            host = "0.0.0.0" if phone else "127.0.0.1"
        super().__init__(
            IFacialMocapDecoder(self.name),
            host=host,
            port=default_port if port is None else port,
            allow_from=allow_from,
            tap=tap,
            lost_after=lost_after,
            on_frame=on_frame,
        )
        self.phone = (phone, phone_port or default_port) if phone else None
        self._start_string = (FACEMOTION3D_START_STRING if facemotion3d else START_STRING).encode()
        self._handshake_interval = handshake_interval
        self._next_handshake = 0.0
        self._flowing_until = 0.0

    def _on_datagram(self, addr: tuple, received_at: float, frame_count: int) -> None:
        if frame_count:
            self._flowing_until = received_at + self._handshake_interval

    def _on_tick(self, now: float) -> None:
        if self.phone is None or now < self._flowing_until or now < self._next_handshake:
            return
        self._next_handshake = now + self._handshake_interval
        try:
            self._sock.sendto(self._start_string, self.phone)
        except OSError as exc:
            self.decoder.counters.add("handshakes_failed")
            self._warn.warning("handshake", f"{self.name}: start string to {self.phone} failed: {exc}")
