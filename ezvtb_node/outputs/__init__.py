"""Frame outputs: Spout, browser source, files, null; and the pacer that feeds them.

``make_sink(text)`` builds an output from a short text spec (the ``--output`` flag), parsed by
``parse_output`` (``outputs/spec.py``, which lists the forms) and built by the builder its kind
names in a table.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ezvtb_node.outputs.base import FrameSink
from ezvtb_node.outputs.pacing import Pacer
from ezvtb_node.outputs.spec import (
    SPEC_HELP,
    BrowserSpec,
    FilesSpec,
    NullSpec,
    OutputSpec,
    SpoutSpec,
    parse_output,
)

__all__ = ["SPEC_HELP", "FrameSink", "OutputSpec", "Pacer", "make_sink", "parse_output"]


# Each output's library is imported only when that output is built (Spout exists on Windows only).
def _spout(spec: SpoutSpec, fps: float, premultiplied: bool) -> FrameSink:
    from ezvtb_node.outputs.spout import SpoutSink

    return SpoutSink(name=spec.name, premultiplied=premultiplied)


def _browser(spec: BrowserSpec, fps: float, premultiplied: bool) -> FrameSink:
    from ezvtb_node.outputs.browser import BrowserSink

    return BrowserSink(spec.host, spec.port)


def _files(spec: FilesSpec, fps: float, premultiplied: bool) -> FrameSink:
    from ezvtb_node.outputs.files import PngSequenceSink, WebpAnimationSink

    return WebpAnimationSink(spec.path, fps=fps) if spec.animated_webp else PngSequenceSink(spec.path)


def _null(spec: NullSpec, fps: float, premultiplied: bool) -> FrameSink:
    from ezvtb_node.outputs.null import NullSink

    return NullSink()


_BUILDERS: dict[type, Callable[[Any, float, bool], FrameSink]] = {
    SpoutSpec: _spout,
    BrowserSpec: _browser,
    FilesSpec: _files,
    NullSpec: _null,
}


def make_sink(text: str, fps: float = 60.0, premultiplied: bool = False) -> FrameSink:
    """Build (not open) the output described by ``text`` (a ValueError names a bad spec).

    ``fps`` sets animation frame durations; ``premultiplied`` makes Spout send premultiplied alpha
    (the other outputs carry straight alpha only).
    """
    spec = parse_output(text)
    if premultiplied and not isinstance(spec, SpoutSpec):
        raise ValueError(f"premultiplied alpha is a Spout option; output {text!r} sends straight alpha")
    return _BUILDERS[type(spec)](spec, fps, premultiplied)
