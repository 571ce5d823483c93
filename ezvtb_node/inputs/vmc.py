"""VMC protocol marionette (what VSeeFace, VMagicMirror, Warudo... send): OSC over UDP, port 39539.

Published channels:

* every ``/VMC/Ext/Blend/Val`` clip, normalised by ``names.blend_channel`` (ARKit camelCase, else
  ``vrm.<VRM0 preset>``); values accumulate until ``/VMC/Ext/Blend/Apply`` publishes them together
  (also across datagrams), and a clip keeps its last value until the sender changes it;
* ``head.yaw|pitch|roll`` in degrees from the local rotations of Spine, Chest, UpperChest, Neck and
  Head composed (the head relative to the hips), Unity's Euler convention (see ``rotation``);
* ``eye.left|right.yaw|pitch`` in degrees from the LeftEye/RightEye local rotations.

A datagram is used whole or not at all: one that is not well-formed OSC (a cut-off bundle
element, a truncated message, a float cut short, bundles nested deeper than 8) is counted and none
of its messages are applied, not even those complete before the fault. A well-formed message whose
arguments are unusable (too few, wrong type, NaN, a zero rotation) is counted and skipped alone.

The state belongs to one sender: ``reset()`` (called by the receiver when another address or port
starts sending, or after ``lost_after`` seconds without a datagram) forgets blend values, bones and the
``/VMC/Ext/OK`` status, so nothing of a sender that left shows on the next one's character.

At most ``MAX_BLEND_NAMES`` distinct clip names are kept per sender (real models have tens to a
few hundred); values of further new names are counted (``too_many_names``) and dropped.

When frames are published: at each ``/VMC/Ext/Blend/Apply``, and at the end of every datagram that
changed something after its last Apply (a bone we use, or the sender's tracking status). So after
each datagram the published state holds everything that datagram carried, whatever order the sender
puts its messages in (``Val… Apply Bone/Pos`` as well as ``Bone/Pos Val… Apply``); only blend values
still waiting for their Apply are left out, since the protocol applies those together. A sender that
sends bones but never Blend/Apply gets a frame at the end of each datagram that moved a bone.

Bundle time tags are ignored: every message is applied when its datagram arrives.
"""

from __future__ import annotations

import logging
import math
import struct
from collections.abc import Callable, Mapping

from pythonosc.osc_message import OscMessage, ParseError
from pythonosc.parsing.osc_types import ParseError as TypeParseError

from ezvtb_node.inputs import rotation
from ezvtb_node.inputs.names import blend_channel
from ezvtb_node.inputs.source import Counters, RateLimitedLog
from ezvtb_node.inputs.tracking import TrackingFrame
from ezvtb_node.inputs.udp import UdpReceiver
from ezvtb_node.sources import VMC

DEFAULT_PORT = 39539
HEAD_CHAIN = ("Spine", "Chest", "UpperChest", "Neck", "Head")
EYE_BONES = {"LeftEye": "eye.left", "RightEye": "eye.right"}
MAX_BUNDLE_DEPTH = 8
MAX_BLEND_NAMES = 512

CommandHandler = Callable[[], None]

_BUNDLE_HEADER = b"#bundle\x00"
_KNOWN_TYPE_TAGS = b"ifsdhbrmtTFN[]"

_log = logging.getLogger(__name__)


# Argument sizes by type tag; strings and blobs are sized from the datagram (see _arguments_end).
_FIXED_SIZES = {"i": 4, "f": 4, "r": 4, "m": 4, "c": 4, "d": 8, "h": 8, "t": 8}
_NUMBER_TYPES = frozenset({int, float})  # not bool (a subclass of int): OSC T/F are not numbers
_BONES_USED = frozenset(name.encode() for name in (*HEAD_CHAIN, *EYE_BONES))
_BONE_ADDRESS = b"/VMC/Ext/Bone/Pos"


class VmcDecoder:
    """Turns VMC datagrams (messages, bundles, nested bundles) into frames; keeps state between them."""

    source = VMC
    COUNTERS = (
        "messages",
        "bad_osc",
        "bad_utf8",
        "bundle_too_deep",
        "unknown_address",
        "too_few_args",
        "wrong_type",
        "non_finite",
        "zero_quaternion",
        "empty_name",
        "too_many_names",
        "not_loaded",
        "not_tracking",
        "commands",
    )

    def __init__(self, commands: Mapping[str, CommandHandler] | None = None) -> None:
        """``commands``: extra OSC addresses (no arguments) and what to call when one arrives,
        e.g. ``{"/ezvtb/calibrate": node.request_calibration}``; called on the receive thread."""
        self.counters = Counters(self.COUNTERS)
        self._warn = RateLimitedLog(_log)
        self._commands = {address.encode(): action for address, action in (commands or {}).items()}
        self.reset()
        self._handlers = {
            b"/VMC/Ext/Blend/Val": self._blend_value,
            b"/VMC/Ext/Blend/Apply": self._blend_apply,
            b"/VMC/Ext/Bone/Pos": self._bone,
            b"/VMC/Ext/Root/Pos": self._root,
            b"/VMC/Ext/OK": self._status,
            b"/VMC/Ext/T": self._time,
            **dict.fromkeys(self._commands, self._command),
        }

    def carries_state(self, data: bytes) -> bool:
        """False for a bare command message (``/ezvtb/calibrate`` from a Stream Deck or a script on
        its own port): it is no new performer, so the performer's state stays."""
        return data.split(b"\0", 1)[0] not in self._commands

    def reset(self) -> None:
        """Forget everything the current sender sent: values, bones, status, time, root."""
        self._pending: dict[str, float] = {}
        self._blends: dict[str, float] = {}
        self._bones: dict[str, rotation.Quaternion] = {}
        self._pose_channels: dict[str, float] = {}
        # What changed since the last frame was built, besides blend values (which wait for Apply).
        self._bones_moved = False
        self._status_changed = False
        self._sender_time: float | None = None
        self._loaded = self._tracking = True
        self.root: tuple[float, ...] | None = None  # position xyz + rotation xyzw of the avatar root

    def feed(self, data: bytes, received_at: float) -> list[TrackingFrame]:
        """Decode one datagram; the frames it publishes, oldest first (often none or one).

        Contract: the last frame returned (or, with none returned, the last one returned before)
        reflects every message of this datagram except blend values still waiting for an Apply.
        """
        messages: list[tuple[_Handler, list, bytes]] = []
        if not self._element(data, 0, messages):
            return []  # not well-formed: nothing of it is applied
        frames: list[TrackingFrame] = []
        for handler, params, address in messages:
            handler(params, address, received_at, frames)
        if self._bones_moved or self._status_changed:
            # Bones or status came after the datagram's last Apply (or with no Apply at all):
            # publish them now rather than leaving them for the next Apply, which may be a whole
            # sender frame away.
            frames.append(self._frame(received_at))
        return frames

    # --- OSC structure: collect the datagram's usable messages, or refuse it whole -------------
    def _element(self, data: bytes, depth: int, out: list[tuple[_Handler, list, bytes]]) -> bool:
        """Append the usable messages of an OSC packet to ``out``; False when it is malformed."""
        if data[:1] == b"/":
            return self._message(data, out)
        if data.startswith(_BUNDLE_HEADER):
            return self._bundle(data, depth, out)
        return self._bad("bad_osc", "a datagram that is neither an OSC message nor a bundle")

    def _bundle(self, data: bytes, depth: int, out: list[tuple[_Handler, list, bytes]]) -> bool:
        if depth >= MAX_BUNDLE_DEPTH:
            return self._bad("bundle_too_deep", f"a datagram nesting bundles deeper than {MAX_BUNDLE_DEPTH}")
        index, end = 16, len(data)  # header (8) + time tag (8), which we deliberately ignore
        if end < index:
            return self._bad("bad_osc", "a bundle shorter than its header")
        while index < end:
            if index + 4 > end:
                return self._bad("bad_osc", "a datagram whose bundle element size is cut off")
            size = int.from_bytes(data[index : index + 4], "big", signed=True)
            index += 4
            if size <= 0 or index + size > end:
                return self._bad("bad_osc", f"a bundle element of {size} bytes where {end - index} remain")
            if not self._element(data[index : index + size], depth + 1, out):
                return False
            index += size
        return True

    def _message(self, data: bytes, out: list[tuple[_Handler, list, bytes]]) -> bool:
        """Parse one message; True unless it is malformed (unusable arguments only skip it)."""
        self.counters.add("messages")
        address_end = data.find(b"\x00")
        address = data[:address_end] if address_end > 0 else b""
        handler = self._handlers.get(address)
        if handler is None:
            self.counters.add("unknown_address")
            return True
        # python-osc logs (on the root logger) every unknown type tag: refuse those first.
        tags_at = (address_end + 4) & ~3
        tags_end = data.find(b"\x00", tags_at)
        if data[tags_at : tags_at + 1] == b"," and tags_end > 0:
            if data[tags_at + 1 : tags_end].translate(None, _KNOWN_TYPE_TAGS):
                self._bad("wrong_type", "an OSC message with an unsupported type tag")
                return True
            # Most of a frame is bones we do not use (arms, legs, fingers): skip them unparsed.
            if handler == self._bone and data[tags_at : tags_at + 3] == b",sf":
                name_at = (tags_end + 4) & ~3
                if data[name_at : data.find(b"\x00", name_at)] not in _BONES_USED:
                    return True
        try:
            params = OscMessage(data).params
        except (ParseError, TypeParseError):
            return self._bad("bad_osc", "a datagram with a malformed OSC message")
        except UnicodeDecodeError:
            self._bad("bad_utf8", "an OSC string that is not UTF-8")
            return True
        if _arguments_end(data, data[tags_at + 1 : tags_end], (tags_end + 4) & ~3) > len(data):
            # python-osc fills a float cut short with zeros (for Reaktor); a cut datagram is not a 0.
            return self._bad("bad_osc", "a datagram with a truncated OSC message (an argument cut short)")
        out.append((handler, params, address))
        return True

    def _bad(self, reason: str, what: str) -> bool:
        """Count and log (rate-limited) one refusal; False, for the structure checks to return."""
        self.counters.add(reason)
        self._warn.warning(reason, f"VMC: ignored {what}")
        return False

    def _numbers(self, params: list, start: int, count: int, address: str) -> list[float | int] | None:
        """params[start:start+count], or None (counted) when too few, not numbers or not finite."""
        if len(params) < start + count:
            self._bad("too_few_args", f"{address} with {len(params)} arguments (expected {start + count})")
            return None
        values = params[start : start + count]
        for value in values:
            if type(value) not in _NUMBER_TYPES:
                self._bad("wrong_type", f"{address} with non-numeric arguments {values!r}")
                return None
            if not math.isfinite(value):
                self._bad("non_finite", f"{address} with NaN or infinite values")
                return None
        return values

    def _name(self, params: list, address: str) -> str | None:
        if params and isinstance(params[0], str):
            if params[0]:
                return params[0]
            self._bad("empty_name", f"{address} with an empty name")
            return None
        if not params:
            self._bad("too_few_args", f"{address} without a name")
        else:
            self._bad("wrong_type", f"{address} whose first argument is not a string")
        return None

    # --- VMC messages ----------------------------------------------------------------------------
    def _blend_value(self, params: list, address: bytes, now: float, frames: list[TrackingFrame]) -> None:
        name = self._name(params, "/VMC/Ext/Blend/Val")
        values = name and self._numbers(params, 1, 1, "/VMC/Ext/Blend/Val")
        if not values:
            return
        channel = blend_channel(name)
        if (
            channel not in self._blends
            and channel not in self._pending
            and len(self._blends) + len(self._pending) >= MAX_BLEND_NAMES
        ):
            self._bad("too_many_names", f"clip {name[:40]!r}: already {MAX_BLEND_NAMES} distinct clip names")
            return
        self._pending[channel] = float(values[0])

    def _blend_apply(self, params: list, address: bytes, now: float, frames: list[TrackingFrame]) -> None:
        self._blends.update(self._pending)
        self._pending.clear()
        frames.append(self._frame(now))

    def _bone(self, params: list, address: bytes, now: float, frames: list[TrackingFrame]) -> None:
        name = self._name(params, "/VMC/Ext/Bone/Pos")
        values = name and self._numbers(params, 1, 7, "/VMC/Ext/Bone/Pos")
        if not values or (name not in HEAD_CHAIN and name not in EYE_BONES):
            return
        raw = (float(values[3]), float(values[4]), float(values[5]), float(values[6]))
        if math.isinf(math.hypot(*raw)):
            self._bad("non_finite", f"a rotation for bone {name} whose length overflows a double")
            return
        quaternion = rotation.normalized(raw)
        if quaternion is None:
            self._bad("zero_quaternion", f"a zero-length rotation for bone {name}")
            return
        self._bones[name] = quaternion
        self._bones_moved = True

    def _root(self, params: list, address: bytes, now: float, frames: list[TrackingFrame]) -> None:
        name = self._name(params, "/VMC/Ext/Root/Pos")
        values = name and self._numbers(params, 1, 7, "/VMC/Ext/Root/Pos")
        if values:
            self.root = tuple(map(float, values))

    def _status(self, params: list, address: bytes, now: float, frames: list[TrackingFrame]) -> None:
        count = 4 if len(params) >= 4 else 1
        values = self._numbers(params, 0, count, "/VMC/Ext/OK")
        if values is not None:
            loaded = values[0] != 0
            tracking = values[3] != 0 if count == 4 else True
            if (loaded, tracking) != (self._loaded, self._tracking):
                self._loaded, self._tracking = loaded, tracking
                self._status_changed = True

    def _time(self, params: list, address: bytes, now: float, frames: list[TrackingFrame]) -> None:
        values = self._numbers(params, 0, 1, "/VMC/Ext/T")
        if values is not None:
            self._sender_time = float(values[0])

    def _command(self, params: list, address: bytes, now: float, frames: list[TrackingFrame]) -> None:
        self.counters.add("commands")
        self._commands[address]()

    # --- frames ----------------------------------------------------------------------------------
    def _update_pose_channels(self) -> None:
        head = rotation.IDENTITY
        have_head = False
        for bone in HEAD_CHAIN:
            local = self._bones.get(bone)
            if local is not None:
                head = rotation.multiply(head, local)
                have_head = True
        if have_head:
            pitch, yaw, roll = rotation.euler_degrees(head)
            self._pose_channels.update({"head.yaw": yaw, "head.pitch": pitch, "head.roll": roll})
        for bone, prefix in EYE_BONES.items():
            local = self._bones.get(bone)
            if local is not None:
                pitch, yaw, _ = rotation.euler_degrees(local)
                self._pose_channels.update({f"{prefix}.yaw": yaw, f"{prefix}.pitch": pitch})

    def _frame(self, now: float) -> TrackingFrame:
        """A frame of the current state (applied blends, bones, status); marks it all published."""
        if self._bones_moved:
            self._update_pose_channels()
        self._bones_moved = self._status_changed = False
        channels = dict(self._blends)
        channels.update(self._pose_channels)
        t = self._sender_time if self._sender_time is not None else now
        # Frames are held (published lost) while the sender says so; the counters say which reason.
        if not self._loaded:
            self.counters.add("not_loaded")
        elif not self._tracking:
            self.counters.add("not_tracking")
        return TrackingFrame(self.source, channels, t, now, lost=not (self._loaded and self._tracking))


_Handler = Callable[[list, bytes, float, list[TrackingFrame]], None]


def _arguments_end(data: bytes, tags: bytes, index: int) -> int:
    """Where the arguments (type tags ``tags``, starting at ``index``) of a message end; past the
    datagram's end when it was cut short."""
    if tags[:1] == b"s" and not tags[1:].strip(b"f"):  # the VMC shape (a name, then floats): fast
        return ((data.find(b"\x00", index) + 4) & ~3) + 4 * (len(tags) - 1)
    for tag in tags.decode("latin-1"):
        if tag == "s":
            index = (data.find(b"\x00", index) + 4) & ~3
        elif tag == "b":
            (size,) = struct.unpack_from(">i", data, index)
            index += 4 + ((size + 3) & ~3)
        else:
            index += _FIXED_SIZES.get(tag, 0)
    return index


class VmcReceiver(UdpReceiver):
    """VMC marionette on ``host:port`` (default 127.0.0.1:39539)."""

    name = VMC
    PORT_CULPRITS = (
        "another ezvtb-node, VSeeFace's own VMC receiver (VMC protocol receiver enabled in VSeeFace), "
        "VBridger, or another VMC marionette"
    )
    max_datagram = 32768  # VMC senders split frames into datagrams of about 1.5 KB

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        *,
        commands: Mapping[str, CommandHandler] | None = None,
        **options,
    ) -> None:
        """``commands``: see VmcDecoder; ``options``: see UdpReceiver (lost_after, on_frame, tap,
        allow_from, receive_buffer_bytes)."""
        super().__init__(VmcDecoder(commands), host=host, port=port, **options)
