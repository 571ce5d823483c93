"""Frame outputs: Spout, browser source, files, null; and the pacer that feeds them.

``make_sink(spec)`` builds an output from a short text spec (the ``--output`` flag):

=====================  ============================================================
``spout[:NAME]``       Spout sender NAME (default ``ezvtb``), Windows only
``browser[:ADDRESS]``  web page for OBS Browser Source; ADDRESS as in ezvtb_node.endpoints
``files:DIR``          PNG sequence DIR/frame_000000.png ...
``files:FILE.webp``    one animated WebP with alpha, written on close
``null``               discard frames
=====================  ============================================================
"""

from __future__ import annotations

from ezvtb_node.endpoints import parse_endpoint
from ezvtb_node.outputs.base import FrameSink
from ezvtb_node.outputs.pacing import Pacer

__all__ = ["SPEC_HELP", "FrameSink", "Pacer", "make_sink"]

SPEC_HELP = "spout[:NAME], browser[:HOST:PORT] (or browser:PORT), files:DIR, files:FILE.webp or null"


def _bad(spec: str, why: str) -> ValueError:
    return ValueError(f"output {spec!r}: {why}; expected {SPEC_HELP}")


def make_sink(spec: str, fps: float = 60.0, premultiplied: bool = False) -> FrameSink:
    """Build (not open) the output described by ``spec``.

    ``fps`` sets animation frame durations; ``premultiplied`` makes Spout send premultiplied alpha
    (the other outputs carry straight alpha only).
    """
    kind, _, rest = spec.strip().partition(":")
    kind = kind.lower()
    if premultiplied and kind != "spout":
        raise ValueError(f"premultiplied alpha is a Spout option; output {spec!r} sends straight alpha")
    if kind == "null" and not rest:
        from ezvtb_node.outputs.null import NullSink

        return NullSink()
    if kind == "spout":
        from ezvtb_node.outputs.spout import DEFAULT_SENDER_NAME, SpoutSink

        return SpoutSink(name=rest or DEFAULT_SENDER_NAME, premultiplied=premultiplied)
    if kind == "browser":
        from ezvtb_node.outputs.browser import DEFAULT_HOST, DEFAULT_PORT, BrowserSink

        try:
            endpoint = parse_endpoint(rest or str(DEFAULT_PORT), DEFAULT_HOST, DEFAULT_PORT, "address", False)
        except ValueError as exc:
            raise _bad(spec, str(exc)) from None
        return BrowserSink(*endpoint)
    if kind == "files":
        if not rest:
            raise _bad(spec, "files needs a directory or a .webp file name")
        from ezvtb_node.outputs.files import PngSequenceSink, WebpAnimationSink

        if rest.lower().endswith(".webp"):
            return WebpAnimationSink(rest, fps=fps)
        return PngSequenceSink(rest)
    raise _bad(spec, f"unknown output kind {kind!r}" if kind != "null" else "null takes no argument")
