"""The HTTP control endpoint: ``GET /metrics`` (the node's numbers as JSON) and
``POST /api/calibrate`` (take the current face as neutral). Loopback by default.

Requests are served on their own threads (ThreadingHTTPServer); the handlers only read a snapshot
and set an event, so they never block rendering.
"""

from __future__ import annotations

import json
import logging
import socket
import sys
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from ezvtb_node.mapping import CALIBRATE_HTTP_PATH

log = logging.getLogger(__name__)


class ControlServer:
    def __init__(
        self, endpoint: tuple[str, int], snapshot: Callable[[], dict], calibrate: Callable[[], None]
    ) -> None:
        """Bind now (OSError when the port is taken); serve after ``start()``."""
        self._server = _ExclusiveHTTPServer(endpoint, _handler(snapshot, calibrate))
        self._server.daemon_threads = True

    @property
    def address(self) -> tuple[str, int]:
        # typeshed allows any socket family's address; an AF_INET/AF_INET6 server's is (host, port, ...).
        return self._server.server_address[:2]  # type: ignore[return-value]

    def start(self) -> None:
        threading.Thread(target=self._server.serve_forever, name="ezvtb-control", daemon=True).start()
        log.info("metrics: http://%s:%d/metrics", *self.address)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class _ExclusiveHTTPServer(ThreadingHTTPServer):
    """http.server sets SO_REUSEADDR, which on Windows lets a second socket bind a port that is
    in use (CPython issue 85307; Microsoft's "Using SO_REUSEADDR and SO_EXCLUSIVEADDRUSE"): a second
    node would bind the control port silently. There the port is bound with SO_EXCLUSIVEADDRUSE
    instead, so the second node hears "in use"; on POSIX SO_REUSEADDR only skips TIME_WAIT."""

    def server_bind(self) -> None:
        if sys.platform == "win32":
            self.allow_reuse_address = False
            self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_EXCLUSIVEADDRUSE, 1)
        super().server_bind()


def _handler(snapshot: Callable[[], dict], calibrate: Callable[[], None]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.split("?")[0] == "/metrics":
                self._reply(200, snapshot())
            else:
                self._reply(404, {"error": f"no such path {self.path}; try /metrics"})

        def do_POST(self) -> None:
            if self.path.split("?")[0] == CALIBRATE_HTTP_PATH:
                calibrate()
                self._reply(200, {"ok": True, "calibrate": "on the next tracked frame"})
            else:
                self._reply(404, {"error": f"no such path {self.path}; try POST {CALIBRATE_HTTP_PATH}"})

        def _reply(self, code: int, body: dict) -> None:
            payload = json.dumps(body, default=str).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: Any) -> None:
            pass

    return Handler
