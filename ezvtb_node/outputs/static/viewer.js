// ezvtb-node browser source: draws the frames streamed on /ws into a transparent canvas.
// Message layout (little-endian): "EZVF", uint32 seq, uint16 width, uint16 height, uint8 format,
// 3 spare bytes, then the pixels (0 = raw RGBA straight alpha, 1 = PNG, 2 = WebP).
// Every frame is acknowledged once drawn ({"painted": seq}) or superseded ({"skipped": seq}):
// the server keeps at most two frames in flight per page and measures send -> painted latency.
"use strict";
(() => {
  const HEADER_BYTES = 16;
  const MIME = { 1: "image/png", 2: "image/webp" };
  const params = new URLSearchParams(location.search);
  const token = params.get("token");
  const query = token ? "?token=" + encodeURIComponent(token) : "";
  const canvas = document.getElementById("frame");
  const context = canvas.getContext("2d", { alpha: true });
  // Exposed for the debug panel and for automated checks.
  const state = { connected: false, received: 0, painted: 0, lastPainted: 0, connects: 0, fps: 0 };
  window.ezvtb = state;
  let retryMs = 250;

  function fitCanvas(width, height) {
    if (canvas.width !== width || canvas.height !== height) {
      canvas.width = width;
      canvas.height = height;
    }
  }

  function painted(socket, seq) {
    state.painted += 1;
    state.lastPainted = seq;
    socket.send(JSON.stringify({ painted: seq }));
  }

  // `connection.newest` is per connection: a restarted node numbers its frames from 1 again.
  function onFrame(socket, connection, buffer) {
    const view = new DataView(buffer);
    if (buffer.byteLength < HEADER_BYTES || view.getUint32(0, false) !== 0x455a5646) return; // "EZVF"
    const seq = view.getUint32(4, true);
    const width = view.getUint16(8, true);
    const height = view.getUint16(10, true);
    const format = view.getUint8(12);
    state.received += 1;
    if (format === 0) {
      fitCanvas(width, height);
      const pixels = new Uint8ClampedArray(buffer, HEADER_BYTES, width * height * 4);
      context.putImageData(new ImageData(pixels, width, height), 0, 0);
      connection.newest = seq;
      painted(socket, seq);
      return;
    }
    const blob = new Blob([new Uint8Array(buffer, HEADER_BYTES)], { type: MIME[format] });
    createImageBitmap(blob, { premultiplyAlpha: "premultiply", colorSpaceConversion: "none" }).then(
      (bitmap) => {
        if (seq < connection.newest) {  // a newer frame was drawn while this one decoded
          bitmap.close();
          socket.send(JSON.stringify({ skipped: seq }));
          return;
        }
        fitCanvas(width, height);
        context.clearRect(0, 0, width, height);
        context.drawImage(bitmap, 0, 0);
        bitmap.close();
        connection.newest = seq;
        painted(socket, seq);
      },
      () => socket.send(JSON.stringify({ skipped: seq })),
    );
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    const socket = new WebSocket(scheme + location.host + "/ws" + query);
    const connection = { newest: 0 };
    socket.binaryType = "arraybuffer";
    socket.onopen = () => {
      state.connected = true;
      state.connects += 1;
      retryMs = 250;
    };
    socket.onmessage = (event) => onFrame(socket, connection, event.data);
    socket.onclose = () => {
      // Reconnect by itself: the node may restart while OBS keeps the page open.
      state.connected = false;
      setTimeout(connect, retryMs);
      retryMs = Math.min(retryMs * 2, 3000);
    };
  }

  // ?debug shows a status panel: page counters plus everything the server reports on /status.
  function startDebugPanel() {
    const panel = document.getElementById("status");
    panel.style.display = "block";
    let lastCount = 0;
    setInterval(async () => {
      state.fps = state.painted - lastCount;
      lastCount = state.painted;
      let server = "";
      try {
        const response = await fetch("status" + query, { cache: "no-store" });
        server = JSON.stringify(await response.json(), null, 1);
      } catch (error) {
        server = "status unavailable: " + error;
      }
      panel.textContent = `connected ${state.connected}  painted ${state.fps} fps  ` +
        `frames ${state.painted}/${state.received}\n${server}`;
    }, 1000);
  }

  if (params.has("debug")) startDebugPanel();
  connect();
})();
