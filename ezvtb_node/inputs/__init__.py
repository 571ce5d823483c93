"""Tracking inputs: VMC/OSC and iFacialMocap receivers, trace and datagram replay, and voice lip sync
in ``voice/`` (see docs/inputs.md).

Every source publishes :class:`TrackingFrame` objects on its own thread; see ``source.FrameSource``.
"""

from ezvtb_node.inputs.ifacialmocap import IFacialMocapReceiver
from ezvtb_node.inputs.replay import DatagramCaptureWriter, DatagramReplay, TraceReplay, open_replay
from ezvtb_node.inputs.settings import SourceSettings, make_tracking_sources
from ezvtb_node.inputs.source import FrameSource
from ezvtb_node.inputs.tracking import TraceWriter, TrackingFrame, read_trace, trace_line
from ezvtb_node.inputs.vmc import VmcReceiver

__all__ = [
    "DatagramCaptureWriter",
    "DatagramReplay",
    "FrameSource",
    "IFacialMocapReceiver",
    "SourceSettings",
    "TraceReplay",
    "TraceWriter",
    "TrackingFrame",
    "VmcReceiver",
    "make_tracking_sources",
    "open_replay",
    "read_trace",
    "trace_line",
]
