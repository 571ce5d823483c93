"""Normalising the blendshape names trackers send to our channel names (ezvtb_node.channels).

Matching ignores case. ARKit names may come as camelCase, PascalCase or with iFacialMocap's
``_L``/``_R`` suffixes; VRM 1.0 expression names map to their VRM 0.x preset.
"""

from __future__ import annotations

from functools import lru_cache

from ezvtb_node.channels import ARKIT_BLENDSHAPES, VRM0_PRESETS

_VRM1_TO_VRM0 = {
    "aa": "A",
    "ih": "I",
    "ou": "U",
    "ee": "E",
    "oh": "O",
    "blinkleft": "Blink_L",
    "blinkright": "Blink_R",
    "happy": "Joy",
    "sad": "Sorrow",
    "relaxed": "Fun",
}

_ARKIT_BY_LOWER = {name.lower(): name for name in ARKIT_BLENDSHAPES}
_VRM_BY_LOWER = {name.lower(): f"vrm.{name}" for name in VRM0_PRESETS}
_VRM_BY_LOWER.update({vrm1: f"vrm.{vrm0}" for vrm1, vrm0 in _VRM1_TO_VRM0.items()})


@lru_cache(maxsize=4096)
def arkit_channel(name: str) -> str | None:
    """The ARKit channel for a tracker's blendshape name, or None if it is not an ARKit name."""
    lower = name.lower()
    if lower.endswith("_l"):
        lower = lower[:-2] + "left"
    elif lower.endswith("_r"):
        lower = lower[:-2] + "right"
    return _ARKIT_BY_LOWER.get(lower)


@lru_cache(maxsize=4096)
def blend_channel(name: str) -> str:
    """The channel for a VMC blend clip: ARKit name, else ``vrm.<VRM0 preset>``, else ``vrm.<name>``.

    Custom clips keep their spelling under ``vrm.`` so a mapping can still use them.
    """
    return arkit_channel(name) or _VRM_BY_LOWER.get(name.lower()) or f"vrm.{name}"
