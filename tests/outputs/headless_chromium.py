"""Drive a real headless Chromium over the DevTools protocol (tests and benchmarks of the browser output).

No extra packages: the DevTools WebSocket is spoken with aiohttp's client on a private event loop.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # OBS keeps its browser sources running; a headless page must not be throttled either.
    "--disable-background-timer-throttling",
    "--disable-renderer-backgrounding",
)

# Reads the page canvas as base64 RGBA (getImageData returns straight alpha, un-premultiplied).
READ_CANVAS = """(() => {
  const canvas = document.getElementById("frame");
  const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  let text = "";
  for (let i = 0; i < data.length; i += 0x8000) {
    text += String.fromCharCode.apply(null, data.subarray(i, i + 0x8000));
  }
  return {width: canvas.width, height: canvas.height, rgba: btoa(text)};
})()"""


def chromium_available() -> bool:
    return Path(CHROMIUM).exists()


class HeadlessChromium:
    """One browser process with a fresh profile; ``open(url)`` returns a page session id."""

    def __init__(self) -> None:
        self._profile = tempfile.mkdtemp(prefix="ezvtb-chromium-")
        self._process = subprocess.Popen(
            [
                CHROMIUM,
                *FLAGS,
                f"--user-data-dir={self._profile}",
                "--remote-debugging-port=0",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._ids = itertools.count(1)
        self._replies: dict[int, asyncio.Future[Any]] = {}
        try:
            self._call(self._connect(self._devtools_address()), 30)
        except BaseException:
            self.close()
            raise

    def _devtools_address(self, timeout: float = 30.0) -> str:
        marker = Path(self._profile, "DevToolsActivePort")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"chromium exited with code {self._process.returncode}")
            lines = marker.read_text().split() if marker.exists() else []
            if len(lines) == 2:
                return f"ws://127.0.0.1:{lines[0]}{lines[1]}"
            time.sleep(0.05)
        raise RuntimeError("chromium did not open its DevTools port")

    async def _connect(self, address: str) -> None:
        self._session = aiohttp.ClientSession()
        self._ws = await self._session.ws_connect(address, max_msg_size=0)
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for message in self._ws:
            reply = json.loads(message.data)
            future = self._replies.pop(reply.get("id", -1), None)
            if future is not None and not future.done():
                future.set_result(reply)

    async def _send(self, method: str, params: dict[str, Any], session: str | None) -> Any:
        command_id = next(self._ids)
        future = self._loop.create_future()
        self._replies[command_id] = future
        command: dict[str, Any] = {"id": command_id, "method": method, "params": params}
        if session:
            command["sessionId"] = session
        await self._ws.send_str(json.dumps(command))
        reply = await future
        if "error" in reply:
            raise RuntimeError(f"DevTools {method}: {reply['error']}")
        return reply["result"]

    def _call(self, coroutine: Any, timeout: float) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)

    def command(self, method: str, params: dict[str, Any] | None = None, session: str | None = None) -> Any:
        return self._call(self._send(method, params or {}, session), 30)

    def open(self, url: str) -> str:
        target = self.command("Target.createTarget", {"url": url})["targetId"]
        return self.command("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]

    def evaluate(self, session: str, expression: str) -> Any:
        result = self.command(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
            session,
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"page script failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, session: str, expression: str, timeout: float = 60.0) -> Any:
        """Poll ``expression`` until it is truthy; return its value."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self.evaluate(session, expression)
            if value:
                return value
            time.sleep(0.02)
        raise TimeoutError(f"page never satisfied {expression!r} within {timeout:g} s")

    def read_canvas(self, session: str) -> np.ndarray:
        """The page canvas as an (H, W, 4) uint8 RGBA array."""
        value = self.evaluate(session, READ_CANVAS)
        pixels = np.frombuffer(base64.b64decode(value["rgba"]), np.uint8)
        return pixels.reshape(value["height"], value["width"], 4)

    def close(self) -> None:
        if hasattr(self, "_ws"):
            # The browser may already be gone; the process is ended below anyway.
            with contextlib.suppress(Exception):
                self.command("Browser.close")
            self._call(self._session.close(), 5)
        try:
            self._process.wait(5)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        shutil.rmtree(self._profile, ignore_errors=True)

    def __enter__(self) -> HeadlessChromium:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
