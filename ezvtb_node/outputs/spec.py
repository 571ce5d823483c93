"""The output specs users type (``--output``, node.toml ``output``), parsed once into small typed
specs that the sink factory, the node's port list and doctor all read:

=====================  ============================================================
``spout[:NAME]``       Spout sender NAME (default ``ezvtb``), Windows only
``browser[:ADDRESS]``  web page for OBS Browser Source; ADDRESS as in ezvtb_node.endpoints
``files:DIR``          PNG sequence DIR/frame_000000.png ...
``files:FILE.webp``    one animated WebP with alpha, written on close
``null``               discard frames
=====================  ============================================================

Parsing builds nothing and imports no output library, so a port or a kind can be read from a spec
on a machine that lacks the library (Spout off Windows).
"""

from __future__ import annotations

from dataclasses import dataclass

from ezvtb_node.endpoints import parse_endpoint

SPEC_HELP = "spout[:NAME], browser[:HOST:PORT] (or browser:PORT), files:DIR, files:FILE.webp or null"
DEFAULT_SENDER_NAME = "ezvtb"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765


@dataclass(frozen=True)
class SpoutSpec:
    """A Spout sender."""

    name: str = DEFAULT_SENDER_NAME


@dataclass(frozen=True)
class BrowserSpec:
    """The browser source's web server (port 0: any free port, chosen when it opens)."""

    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT


@dataclass(frozen=True)
class FilesSpec:
    """A PNG sequence in a folder, or one animated WebP when ``path`` ends in ``.webp``."""

    path: str

    @property
    def animated_webp(self) -> bool:
        return self.path.lower().endswith(".webp")


@dataclass(frozen=True)
class NullSpec:
    """Frames are discarded (benchmarks, tests, a node run for its /metrics alone)."""


OutputSpec = SpoutSpec | BrowserSpec | FilesSpec | NullSpec


def _bad(text: str, why: str) -> ValueError:
    return ValueError(f"output {text!r}: {why}; expected {SPEC_HELP}")


def parse_output(text: str) -> OutputSpec:
    """The spec ``text`` describes; a ValueError naming the spec, what is wrong and the accepted forms."""
    kind, _, rest = text.strip().partition(":")
    kind = kind.lower()
    if kind == "spout":
        return SpoutSpec(rest or DEFAULT_SENDER_NAME)
    if kind == "browser":
        try:
            endpoint = parse_endpoint(rest or str(DEFAULT_PORT), DEFAULT_HOST, DEFAULT_PORT, "address", False)
        except ValueError as exc:
            raise _bad(text, str(exc)) from None
        assert endpoint is not None  # not switchable: 'off' raises instead
        return BrowserSpec(*endpoint)
    if kind == "files":
        if not rest:
            raise _bad(text, "files needs a directory or a .webp file name")
        return FilesSpec(rest)
    if kind == "null":
        if rest:
            raise _bad(text, "null takes no argument")
        return NullSpec()
    raise _bad(text, f"unknown output kind {kind!r}")
