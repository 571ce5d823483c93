"""Browser source: a local web page that draws the frames with transparency.

Works with OBS "Browser Source" on Windows, macOS and Linux (its pages are transparent by default)
and with any browser. One HTTP + WebSocket server (aiohttp, on its own event-loop thread) serves

* ``/``            the page (``static/index.html`` + ``static/viewer.js``); ``/?debug`` adds a status panel,
* ``/ws``          the frame stream, one binary message per frame (see :data:`HEADER`),
* ``/status``      JSON statistics; the debug panel shows it, extra providers via :meth:`add_status`,
* extra JSON routes registered with :meth:`BrowserSink.add_json_route` (for example ``/metrics``).

Frames travel as raw RGBA by default: on loopback the bytes cost nothing, while PNG and WebP
encoding cost milliseconds of CPU per frame (see benchmarks/outputs_browser.py and docs/outputs.md).
Each viewer has at most :data:`FRAMES_IN_FLIGHT` unacknowledged frames: the page acknowledges every
frame once drawn, so a slow viewer gets the newest frame instead of a growing backlog, and the
acknowledgements give the send → painted latency.

Binds 127.0.0.1 by default. Bound to any other address it requires a token (given, or generated and
printed) in the ``token`` query parameter of every request.
"""

from __future__ import annotations

import asyncio
import io
import ipaddress
import json
import logging
import secrets
import struct
import threading
import time
from collections import deque
from collections.abc import Callable
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

import numpy as np
from aiohttp import WSMsgType, web
from PIL import Image

from ezvtb_node.outputs.base import FrameSink
from ezvtb_node.outputs.spec import DEFAULT_HOST, DEFAULT_PORT
from ezvtb_node.percentiles import percentile_ms

log = logging.getLogger(__name__)

FORMATS = {"raw": 0, "png": 1, "webp": 2}
#: Binary frame message header: magic, sequence number, width, height, format code, 3 spare bytes.
HEADER = struct.Struct("<4sIHHB3x")
MAGIC = b"EZVF"
#: Frames sent to one viewer and not yet acknowledged; more waiting means the viewer is slow.
FRAMES_IN_FLIGHT = 2
# A page that stops acknowledging (a hung tab) must not freeze its stream for good.
_ACK_TIMEOUT_S = 1.0
_LATENCY_WINDOW = 1024
_STATIC_FILES = {"/": ("index.html", "text/html"), "/viewer.js": ("viewer.js", "text/javascript")}


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def quiet_connection_resets(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """The event loop's exception handler, minus one harmless message: on Windows, when OBS reloads
    a browser source the page drops its socket, and the Proactor loop's
    ``_ProactorBasePipeTransport._call_connection_lost`` fails in ``sock.shutdown`` with
    ConnectionResetError [WinError 10054], logged as "Exception in callback ..." with a traceback
    (asyncio/proactor_events.py). The connection is gone either way; everything else is logged."""
    if isinstance(context.get("exception"), ConnectionResetError) and "_call_connection_lost" in str(
        context.get("message", "")
    ):
        return
    loop.default_exception_handler(context)


def encode_frame(frame: np.ndarray, seq: int, fmt: str) -> bytes | bytearray:
    """One WebSocket message: :data:`HEADER` then the pixels as raw RGBA, PNG or lossless WebP."""
    height, width = frame.shape[:2]
    header = HEADER.pack(MAGIC, seq & 0xFFFFFFFF, width, height, FORMATS[fmt])
    if fmt == "raw":
        message = bytearray(HEADER.size + width * height * 4)
        message[: HEADER.size] = header
        rgba = np.frombuffer(message, np.uint8, offset=HEADER.size).reshape(height, width, 4)
        rgba[..., 0] = frame[..., 2]
        rgba[..., 1] = frame[..., 1]
        rgba[..., 2] = frame[..., 0]
        rgba[..., 3] = frame[..., 3]
        return message
    image = Image.frombuffer("RGBA", (width, height), np.ascontiguousarray(frame), "raw", "BGRA", 0, 1)
    out = io.BytesIO()
    out.write(header)
    if fmt == "png":
        image.save(out, "PNG", compress_level=1)
    else:
        # Lossless keeps the picture exact; method 0 is the fastest encoder setting.
        image.save(out, "WEBP", lossless=True, quality=0, method=0, exact=True)
    return out.getvalue()


class _Viewer:
    """One connected page: its newest waiting frame, frames in flight, counters."""

    def __init__(self, remote: str) -> None:
        self.remote = remote
        self.waiting: tuple[int, bytes | bytearray, float | None] | None = None
        self.in_flight: dict[int, tuple[float, float | None]] = {}  # seq -> (sent on socket, sent_at)
        self.wake = asyncio.Event()
        self.sent = self.dropped = self.painted = self.unacknowledged = 0

    def summary(self) -> dict[str, Any]:
        return {
            "remote": self.remote,
            "sent": self.sent,
            "dropped": self.dropped,
            "painted": self.painted,
            "unacknowledged": self.unacknowledged,
        }


class BrowserServer:
    """The HTTP + WebSocket server behind :class:`BrowserSink`, running its own event loop thread."""

    def __init__(self, host: str, port: int, token: str | None, fmt: str) -> None:
        self.host, self.port, self.token, self.format = host, port, token, fmt
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._viewers: set[_Viewer] = set()
        self._sockets: set[web.WebSocketResponse] = set()
        self._latest: tuple[int, np.ndarray, bytes | bytearray | None] | None = None
        self._json_routes: dict[str, Callable[[], Any]] = {}
        self._status_providers: dict[str, Callable[[], Any]] = {}
        self._latencies: deque[float] = deque(maxlen=_LATENCY_WINDOW)
        self._dropped_total = self._viewers_total = 0

    # -- lifecycle (called from the sink thread) ----------------------------------------------------

    def start(self, timeout: float = 10.0) -> None:
        self._loop = asyncio.new_event_loop()
        self._loop.set_exception_handler(quiet_connection_resets)
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="ezvtb-browser-server", daemon=True
        )
        self._thread.start()
        try:
            asyncio.run_coroutine_threadsafe(self._serve(), self._loop).result(timeout)
        except OSError as exc:
            self.stop()
            raise RuntimeError(
                f"browser output cannot listen on {self.host}:{self.port}: {exc.strerror or exc} "
                "(is another ezvtb-node running? choose another port with browser:HOST:PORT)"
            ) from exc
        except BaseException:
            self.stop()
            raise

    def stop(self, timeout: float = 5.0) -> None:
        loop, self._loop = self._loop, None
        if loop is None:
            return
        try:
            asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(timeout)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            if self._thread is not None:
                self._thread.join(timeout)
            if not loop.is_running():  # a loop wedged in a handler is left to its daemon thread
                loop.close()

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        query = f"?token={self.token}" if self.token else ""
        return f"http://{host}:{self.port}/{query}"

    # -- frames (called from the sink thread) ------------------------------------------------------

    def publish(self, seq: int, frame: np.ndarray, sent_at: float) -> None:
        """Offer a frame to every viewer; encoded only when someone is watching."""
        payload = encode_frame(frame, seq, self.format) if self._viewers else None
        self._latest = (seq, frame, payload)
        if payload is not None and self._loop is not None:
            self._loop.call_soon_threadsafe(self._offer, seq, payload, sent_at)

    def _offer(self, seq: int, payload: bytes | bytearray, sent_at: float | None) -> None:
        for viewer in self._viewers:
            if viewer.waiting is not None:
                viewer.dropped += 1
                self._dropped_total += 1
            viewer.waiting = (seq, payload, sent_at)
            viewer.wake.set()

    # -- routes, status ---------------------------------------------------------------------------

    def add_json_route(self, path: str, handler: Callable[[], Any]) -> None:
        if not path.startswith("/") or path in _STATIC_FILES or path in ("/ws", "/status"):
            raise ValueError(f"JSON route must be a free path starting with '/', got {path!r}")
        self._json_routes[path] = handler

    def add_status(self, name: str, provider: Callable[[], Any]) -> None:
        self._status_providers[name] = provider

    def counters(self) -> dict[str, Any]:
        latencies = list(self._latencies)
        return {
            "url": self.url,
            "format": self.format,
            "viewers": len(self._viewers),
            "viewers_total": self._viewers_total,
            "viewer_dropped": self._dropped_total,
            "painted_latency_ms_p50": percentile_ms(latencies, 50),
            "painted_latency_ms_p99": percentile_ms(latencies, 99),
        }

    def latency_samples(self) -> list[float]:
        """Recent send → painted latencies in seconds (for benchmarks)."""
        return list(self._latencies)

    def status(self) -> dict[str, Any]:
        status: dict[str, Any] = {
            "server": self.counters(),
            "viewers": [v.summary() for v in list(self._viewers)],
        }
        for name, provider in list(self._status_providers.items()):
            status[name] = provider()
        return status

    # -- aiohttp side (event-loop thread) ---------------------------------------------------------

    async def _serve(self) -> None:
        app = web.Application(middlewares=[self._check_access])
        app.router.add_get("/ws", self._stream)
        app.router.add_get("/{path:.*}", self._get)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, self.port).start()
        self.port = self._runner.addresses[0][1]

    async def _shutdown(self) -> None:
        for ws in list(self._sockets):
            await ws.close(code=1001, message=b"ezvtb-node output closed")
        if self._runner is not None:
            await self._runner.cleanup()

    @web.middleware
    async def _check_access(self, request: web.Request, handler: Callable[..., Any]) -> web.StreamResponse:
        # The page script holds no data, so it is served without a token (the page passes it on).
        if self.token and request.path != "/viewer.js":
            given = request.query.get("token", "")
            if not secrets.compare_digest(given.encode(), self.token.encode()):
                raise web.HTTPForbidden(
                    text="ezvtb-node: a valid ?token= is required (see the URL it printed)\n"
                )
        origin = request.headers.get("Origin")
        if origin and urlsplit(origin).netloc != request.host:
            # Another web site open in the user's browser must not read the stream.
            raise web.HTTPForbidden(text=f"ezvtb-node: requests from {origin} are not allowed\n")
        return await handler(request)

    async def _get(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        if path in _STATIC_FILES:
            name, content_type = _STATIC_FILES[path]
            text = resources.files("ezvtb_node.outputs").joinpath("static", name).read_text("utf-8")
            return web.Response(text=text, content_type=content_type, headers={"Cache-Control": "no-store"})
        if path == "/status":
            return web.json_response(self.status(), dumps=_dumps)
        handler = self._json_routes.get(path)
        if handler is None:
            raise web.HTTPNotFound(text=f"ezvtb-node: no page at {path}\n")
        return web.json_response(handler(), dumps=_dumps)

    async def _stream(self, request: web.Request) -> web.WebSocketResponse:
        # No permessage-deflate: browsers offer it, and deflating a megabyte per frame costs more
        # CPU and latency than sending it over loopback as is.
        ws = web.WebSocketResponse(heartbeat=10.0, compress=False)
        await ws.prepare(request)
        viewer = _Viewer(request.remote or "?")
        self._viewers.add(viewer)
        self._sockets.add(ws)
        self._viewers_total += 1
        latest = self._latest
        if latest is not None:
            # A new viewer sees the current picture at once, even if rendering is paused.
            seq, frame, payload = latest
            viewer.waiting = (seq, payload or encode_frame(frame, seq, self.format), None)
            viewer.wake.set()
        pump = asyncio.create_task(self._pump(ws, viewer))
        try:
            async for message in ws:
                if message.type == WSMsgType.TEXT:
                    self._acknowledge(viewer, message.data)
        finally:
            pump.cancel()
            self._viewers.discard(viewer)
            self._sockets.discard(ws)
        return ws

    async def _pump(self, ws: web.WebSocketResponse, viewer: _Viewer) -> None:
        while not ws.closed:
            await viewer.wake.wait()
            viewer.wake.clear()
            now = time.perf_counter()
            for seq in [s for s, (on_wire, _) in viewer.in_flight.items() if now - on_wire > _ACK_TIMEOUT_S]:
                del viewer.in_flight[seq]
                viewer.unacknowledged += 1
            while viewer.waiting is not None and len(viewer.in_flight) < FRAMES_IN_FLIGHT:
                seq, payload, sent_at = viewer.waiting
                viewer.waiting = None
                viewer.in_flight[seq] = (time.perf_counter(), sent_at)
                viewer.sent += 1
                try:
                    await ws.send_bytes(payload)
                except ConnectionError:
                    return  # the page went away; the receive loop in _stream cleans up

    def _acknowledge(self, viewer: _Viewer, text: str) -> None:
        try:
            ack = json.loads(text)
            seq = int(ack.get("painted", ack.get("skipped")))
        except (ValueError, TypeError, AttributeError):
            log.debug("browser output: ignored a malformed message from %s: %.80r", viewer.remote, text)
            return
        entry = viewer.in_flight.pop(seq, None)
        if entry is not None and "painted" in ack:
            viewer.painted += 1
            if entry[1] is not None:
                self._latencies.append(time.perf_counter() - entry[1])
        viewer.wake.set()


def _dumps(value: Any) -> str:
    return json.dumps(value, default=str)


class BrowserSink(FrameSink):
    """Serve the frames to web pages; point OBS "Browser Source" at :attr:`url`."""

    kind = "browser"

    def __init__(
        self,
        host: str = DEFAULT_HOST,
        port: int = DEFAULT_PORT,
        token: str | None = None,
        fmt: str = "raw",
    ) -> None:
        super().__init__()
        if fmt not in FORMATS:
            raise ValueError(f"browser frame format must be one of {', '.join(FORMATS)}, got {fmt!r}")
        if not (isinstance(port, int) and 0 <= port <= 65535):
            raise ValueError(f"browser port must be 0..65535, got {port!r}")
        if token is None and not is_loopback(host):
            token = secrets.token_urlsafe(16)
        self._server = BrowserServer(host, port, token, fmt)
        self._server.add_status("sink", self.stats)
        self._seq = 0

    @property
    def url(self) -> str:
        """The page address, token included (the actual port once open, also for port 0)."""
        return self._server.url

    @property
    def server(self) -> BrowserServer:
        return self._server

    def add_json_route(self, path: str, handler: Callable[[], Any]) -> None:
        """Serve ``handler()`` as JSON at ``path`` (same token rule); may be called before or after open."""
        self._server.add_json_route(path, handler)

    def add_status(self, name: str, provider: Callable[[], Any]) -> None:
        """Add ``provider()`` under ``name`` to ``/status`` and so to the page's ``?debug`` panel."""
        self._server.add_status(name, provider)

    def _start(self, width: int, height: int) -> None:
        if width > 0xFFFF or height > 0xFFFF:
            raise ValueError(f"browser output supports up to 65535 x 65535 pixels, got {width} x {height}")
        self._server.start()
        log.info("browser output: add %s as a Browser Source (size %d x %d)", self.url, width, height)

    def _write(self, frame: np.ndarray, sent_at: float) -> None:
        self._seq += 1
        self._server.publish(self._seq, frame, sent_at)

    def _stop(self) -> None:
        self._server.stop()

    def _extra_stats(self) -> dict[str, Any]:
        return self._server.counters()
