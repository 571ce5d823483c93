"""A VMC test sender: try ezvtb-node without VSeeFace.

Sends what a VMC performer sends, as OSC bundles over UDP: blendshape clips (VRM 0.x presets, or the
52 ARKit names of a perfect-sync model with --perfect-sync), /VMC/Ext/Blend/Apply, the Neck and Head
bone rotations (Unity quaternions x, y, z, w) of a slow head turn, /VMC/Ext/OK and /VMC/Ext/T.

    .venv/bin/python examples/vmc_sender.py                      # to 127.0.0.1:39539 until Ctrl+C
    .venv/bin/python examples/vmc_sender.py --perfect-sync --duration 10
    .venv/bin/python examples/vmc_sender.py --wink-left --duration 3   # hold a left wink, head still
    .venv/bin/python examples/vmc_sender.py --head 20,-10,5             # hold yaw, pitch, roll (degrees)

Angles follow docs/inputs.md: yaw > 0 turns the face to the character's own right, pitch > 0 tips it
down, roll > 0 tilts the head toward the character's own left shoulder.
"""

from __future__ import annotations

import argparse
import math
import socket
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass

from pythonosc.osc_bundle_builder import IMMEDIATELY, OscBundleBuilder
from pythonosc.osc_message import OscMessage
from pythonosc.osc_message_builder import OscMessageBuilder

from ezvtb_node.channels import ARKIT_BLENDSHAPES

# Real performers split a frame into datagrams that fit one Ethernet frame.
MAX_DATAGRAM_BYTES = 1400
VRM_CLIPS = ("A", "I", "U", "E", "O", "Blink", "Blink_L", "Blink_R", "Joy")
BLINK_EVERY_S = 3.5
BLINK_LENGTH_S = 0.15


@dataclass(frozen=True)
class Pose:
    yaw: float  # degrees, VMC convention (see the module docstring)
    pitch: float
    roll: float
    clips: dict[str, float]


Quaternion = tuple[float, float, float, float]  # x, y, z, w


# The receiver has its own quaternion code; this sender builds rotations from first principles on
# purpose, so a sign error on either side shows up in tests instead of cancelling out.
def axis_rotation(axis: str, degrees: float) -> Quaternion:
    half = math.radians(degrees) / 2
    s, c = math.sin(half), math.cos(half)
    return {"x": (s, 0.0, 0.0, c), "y": (0.0, s, 0.0, c), "z": (0.0, 0.0, s, c)}[axis]


def compose(a: Quaternion, b: Quaternion) -> Quaternion:
    """``a * b`` (Hamilton product): rotate by ``b``, then by ``a``."""
    ax, ay, az, aw = a
    bx, by, bz, bw = b
    return (
        aw * bx + ax * bw + ay * bz - az * by,
        aw * by - ax * bz + ay * bw + az * bx,
        aw * bz + ax * by - ay * bx + az * bw,
        aw * bw - ax * bx - ay * by - az * bz,
    )


def bone_rotations(pose: Pose) -> dict[str, Quaternion]:
    """Neck turns (yaw), Head nods and tilts: Neck * Head = Ry(yaw) * Rx(pitch) * Rz(roll), Unity's order."""
    head = compose(axis_rotation("x", pose.pitch), axis_rotation("z", pose.roll))
    return {"Neck": axis_rotation("y", pose.yaw), "Head": head}


def blink_amount(t: float) -> float:
    phase = t % BLINK_EVERY_S
    return math.sin(math.pi * phase / BLINK_LENGTH_S) if phase < BLINK_LENGTH_S else 0.0


def animated_pose(t: float, turn_degrees: float, turn_period: float, perfect_sync: bool) -> Pose:
    """A slow side-to-side head turn with a small nod, talking, blinking and a smile that comes and goes."""
    swing = math.sin(2 * math.pi * t / turn_period)
    yaw, pitch, roll = turn_degrees * swing, 5.0 * math.sin(4 * math.pi * t / turn_period), 4.0 * swing
    blink = blink_amount(t)
    vowel = int(t * 4) % 5  # a new vowel every quarter second
    mouth = 0.5 + 0.5 * math.sin(2 * math.pi * t * 4)  # opens and closes within each vowel
    smile = max(0.0, math.sin(2 * math.pi * t / 7))
    if perfect_sync:
        clips = neutral_clips(perfect_sync)
        clips.update(
            eyeBlinkLeft=blink,
            eyeBlinkRight=blink,
            jawOpen=0.6 * mouth,
            mouthFunnel=mouth if vowel == 4 else 0.0,
            mouthPucker=mouth if vowel == 2 else 0.0,
            mouthStretchLeft=mouth if vowel == 1 else 0.0,
            mouthStretchRight=mouth if vowel == 1 else 0.0,
            mouthSmileLeft=smile,
            mouthSmileRight=smile,
            browInnerUp=0.3 * smile,
        )
    else:
        clips = neutral_clips(perfect_sync)
        clips.update({"AIUEO"[vowel]: mouth, "Blink": blink, "Joy": smile})
    return Pose(yaw, pitch, roll, clips)


def neutral_clips(perfect_sync: bool) -> dict[str, float]:
    return dict.fromkeys(ARKIT_BLENDSHAPES if perfect_sync else VRM_CLIPS, 0.0)


def wink_left_pose(perfect_sync: bool) -> Pose:
    """Left eye closed, everything else neutral and still: a frame an end-to-end test can check."""
    clips = neutral_clips(perfect_sync)
    clips["eyeBlinkLeft" if perfect_sync else "Blink_L"] = 1.0
    return Pose(0.0, 0.0, 0.0, clips)


def wire_name(clip: str, perfect_sync: bool) -> str:
    # Perfect-sync VRM models name their clips in PascalCase (EyeBlinkLeft), as VSeeFace sends them.
    return clip[0].upper() + clip[1:] if perfect_sync else clip


def frame_messages(pose: Pose, t: float, perfect_sync: bool) -> list[OscMessage]:
    """One frame, in the order VSeeFace sends it: status, time, bones, clips, then Apply."""
    messages = [
        _message("/VMC/Ext/OK", 1, 3, 0, 1),  # loaded, calibrated, normal mode, tracking
        _message("/VMC/Ext/T", float(t)),
        _message("/VMC/Ext/Root/Pos", "root", 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0),
    ]
    for bone, (x, y, z, w) in bone_rotations(pose).items():
        messages.append(_message("/VMC/Ext/Bone/Pos", bone, 0.0, 0.0, 0.0, x, y, z, w))
    for clip, value in pose.clips.items():
        messages.append(_message("/VMC/Ext/Blend/Val", wire_name(clip, perfect_sync), float(value)))
    messages.append(_message("/VMC/Ext/Blend/Apply"))
    return messages


def _message(address: str, *args: object) -> OscMessage:
    builder = OscMessageBuilder(address)
    for arg in args:
        builder.add_arg(arg)
    return builder.build()


def bundle_datagrams(messages: list[OscMessage]) -> Iterator[bytes]:
    """Pack messages into bundles of at most MAX_DATAGRAM_BYTES each, keeping their order."""
    batch: list[OscMessage] = []
    size = 16  # "#bundle\0" + time tag
    for message in messages:
        if batch and size + 4 + message.size > MAX_DATAGRAM_BYTES:
            yield _bundle(batch)
            batch, size = [], 16
        batch.append(message)
        size += 4 + message.size
    if batch:
        yield _bundle(batch)


def _bundle(messages: list[OscMessage]) -> bytes:
    builder = OscBundleBuilder(IMMEDIATELY)
    for message in messages:
        builder.add_content(message)
    return builder.build().dgram


def parse_head(text: str) -> tuple[float, float, float]:
    parts = text.split(",")
    try:
        yaw, pitch, roll = (float(part) for part in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected YAW,PITCH,ROLL in degrees such as 20,-10,5, got {text!r}"
        ) from None
    return yaw, pitch, roll


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1", help="where the node listens (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=39539, help="VMC port (default 39539)")
    parser.add_argument("--rate", type=float, default=60.0, help="frames per second (default 60)")
    parser.add_argument("--duration", type=float, default=0.0, help="seconds to send (default: until Ctrl+C)")
    parser.add_argument(
        "--perfect-sync", action="store_true", help="send the 52 ARKit clips instead of VRM presets"
    )
    motion = parser.add_mutually_exclusive_group()
    motion.add_argument("--wink-left", action="store_true", help="hold a left wink with the head still")
    motion.add_argument("--head", type=parse_head, metavar="YAW,PITCH,ROLL", help="hold this head pose")
    parser.add_argument(
        "--turn", type=float, default=25.0, help="head turn amplitude in degrees (default 25)"
    )
    parser.add_argument(
        "--turn-period", type=float, default=8.0, help="seconds per left-right-left turn (default 8)"
    )
    return parser


def pose_source(args: argparse.Namespace):
    if args.wink_left:
        pose = wink_left_pose(args.perfect_sync)
        return lambda t: pose
    if args.head is not None:
        pose = Pose(*args.head, neutral_clips(args.perfect_sync))
        return lambda t: pose
    return lambda t: animated_pose(t, args.turn, args.turn_period, args.perfect_sync)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not 0 < args.rate <= 1000:
        raise SystemExit(f"--rate must be between 0 and 1000 frames per second, got {args.rate}")
    if not 0 < args.port < 65536:
        raise SystemExit(f"--port must be 1-65535, got {args.port}")
    if args.turn_period <= 0:
        raise SystemExit(f"--turn-period must be > 0 seconds, got {args.turn_period}")
    pose_at = pose_source(args)
    target = (args.host, args.port)
    interval = 1.0 / args.rate
    frames = datagrams = 0
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        started = time.perf_counter()
        try:
            while not args.duration or frames * interval < args.duration:
                # A fixed schedule, so a late frame does not push every later one back.
                time.sleep(max(0.0, started + frames * interval - time.perf_counter()))
                t = time.perf_counter() - started
                for datagram in bundle_datagrams(frame_messages(pose_at(t), t, args.perfect_sync)):
                    sock.sendto(datagram, target)
                    datagrams += 1
                frames += 1
        except KeyboardInterrupt:
            pass
        except OSError as exc:
            raise SystemExit(f"cannot send to {args.host}:{args.port}: {exc}") from None
    elapsed = time.perf_counter() - started
    print(
        f"sent {frames} frames ({datagrams} datagrams) to {args.host}:{args.port} "
        f"in {elapsed:.1f} s: {frames / max(elapsed, 1e-9):.1f} frames/s",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
