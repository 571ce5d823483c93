"""Tracking channel names: the vocabulary shared by inputs, traces and mapping files.

See docs/contracts.md §3: ARKit blendshapes in camelCase, VRM presets as ``vrm.<Name>``
(VRM0 spelling), head rotation in degrees and position, eye angles in degrees, and the voice
channels ``voice.level`` and ``voice.a|i|u|e|o``.
"""

from __future__ import annotations

ARKIT_BLENDSHAPES: tuple[str, ...] = (
    "eyeBlinkLeft", "eyeLookDownLeft", "eyeLookInLeft", "eyeLookOutLeft", "eyeLookUpLeft",
    "eyeSquintLeft", "eyeWideLeft",
    "eyeBlinkRight", "eyeLookDownRight", "eyeLookInRight", "eyeLookOutRight", "eyeLookUpRight",
    "eyeSquintRight", "eyeWideRight",
    "jawForward", "jawLeft", "jawRight", "jawOpen",
    "mouthClose", "mouthFunnel", "mouthPucker", "mouthLeft", "mouthRight",
    "mouthSmileLeft", "mouthSmileRight", "mouthFrownLeft", "mouthFrownRight",
    "mouthDimpleLeft", "mouthDimpleRight", "mouthStretchLeft", "mouthStretchRight",
    "mouthRollLower", "mouthRollUpper", "mouthShrugLower", "mouthShrugUpper",
    "mouthPressLeft", "mouthPressRight", "mouthLowerDownLeft", "mouthLowerDownRight",
    "mouthUpperUpLeft", "mouthUpperUpRight",
    "browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft", "browOuterUpRight",
    "cheekPuff", "cheekSquintLeft", "cheekSquintRight",
    "noseSneerLeft", "noseSneerRight",
    "tongueOut",
)  # fmt: skip
assert len(ARKIT_BLENDSHAPES) == 52

VRM0_PRESETS: tuple[str, ...] = (
    "Neutral", "A", "I", "U", "E", "O", "Blink", "Blink_L", "Blink_R",
    "Joy", "Angry", "Sorrow", "Fun", "LookUp", "LookDown", "LookLeft", "LookRight",
)  # fmt: skip
VRM_CHANNELS: tuple[str, ...] = tuple(f"vrm.{name}" for name in VRM0_PRESETS)

HEAD_CHANNELS: tuple[str, ...] = ("head.yaw", "head.pitch", "head.roll", "head.x", "head.y", "head.z")
EYE_CHANNELS: tuple[str, ...] = ("eye.left.yaw", "eye.left.pitch", "eye.right.yaw", "eye.right.pitch")

# Voice lip sync (source "voice"): loudness 0..1 and the weights of the five Japanese vowels (VRM's
# A I U E O presets), 0..1; see ezvtb_node/inputs/voice/.
VOICE_CHANNELS: tuple[str, ...] = ("voice.level", "voice.a", "voice.i", "voice.u", "voice.e", "voice.o")

KNOWN_CHANNELS: frozenset[str] = frozenset(
    ARKIT_BLENDSHAPES + VRM_CHANNELS + HEAD_CHANNELS + EYE_CHANNELS + VOICE_CHANNELS
)
