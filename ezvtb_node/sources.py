"""Tracking source names: the ``source`` of every TrackingFrame and trace line (docs/contracts.md §3).

Receivers, replays, the mapping choice and the render loop all read the names here, so a trace
recorded today names its source with the same string a mapping choice tests for tomorrow.
"""

from __future__ import annotations

VMC = "vmc"
IFACIALMOCAP = "ifacialmocap"
FACEMOTION3D = "facemotion3d"
VOICE = "voice"

# The UDP receivers, in the order `receivers()` lists them; a raw capture names one per datagram.
RECEIVER_SOURCES: tuple[str, ...] = (VMC, IFACIALMOCAP, FACEMOTION3D)
SOURCE_NAMES: tuple[str, ...] = (*RECEIVER_SOURCES, VOICE)
# Phone apps sending ARKit names in iFacialMocap's format (they share the iFacialMocap mapping).
PHONE_SOURCES: frozenset[str] = frozenset({IFACIALMOCAP, FACEMOTION3D})
# Sources whose channels are added to the face tracker's frame rather than replacing it.
OVERLAY_SOURCES: frozenset[str] = frozenset({VOICE})
