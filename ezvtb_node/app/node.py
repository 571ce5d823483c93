"""The node's lifecycle: start the parts in order, stop them in data-flow order, handle signals.

Data flows one way: sources (own threads) → ``TrackingSlot`` → render loop (one thread) → pacer
(one thread) → sinks (one thread each). The parts are built by ``assembly``; this module only
starts, watches and stops them.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from ezvtb_node.app import assembly
from ezvtb_node.app.assembly import NodeError
from ezvtb_node.app.config import NodeConfig
from ezvtb_node.app.control import ControlServer
from ezvtb_node.app.metrics import NodeMetrics, StatusPrinter, status_line
from ezvtb_node.app.render import Mappers, RenderLoop, TrackingSlot
from ezvtb_node.core.options import CoreOptions
from ezvtb_node.inputs import FrameSource, TrackingFrame
from ezvtb_node.install_hints import FIREWALL_FIX
from ezvtb_node.outputs import Pacer
from ezvtb_node.outputs.base import FrameSink

if TYPE_CHECKING:  # the core's runtimes load when the core is built
    from ezvtb_node.core.core import Core

log = logging.getLogger(__name__)

_STOP_BUDGET_S = 2.0
# How long stop() waits beyond its budget for a frame that is being rendered (a CPU frame takes
# 0.25 s here, tens of seconds on a very busy machine; the render loop ends right after it).
_RENDER_FINISH_S = 60.0
# On Windows before Python 3.14, Ctrl+C does not interrupt a lock or event wait without a timeout
# (CPython issue 80116; threading docs, Lock.acquire: "Changed in version 3.14: lock acquisition
# can now be interrupted by signals on Windows"), so the main thread waits in slices and the
# signal handler runs between two of them.
_WAIT_SLICE_S = 0.25
# What stops the node, where the OS has it: Ctrl+C (SIGINT), SIGTERM (POSIX `kill`; on Windows
# nothing can send it: TerminateProcess ends the process outright) and Ctrl+Break (Windows' SIGBREAK).
STOP_SIGNAL_NAMES = ("SIGINT", "SIGTERM", "SIGBREAK")

# How long a configured phone may send nothing before the node says so once.
PHONE_SILENCE_S = 10.0

__all__ = ["Node", "NodeError"]


def silent_phone_warning(source: FrameSource, system: str = sys.platform) -> str | None:
    """A warning when ``source`` has a phone configured and not one datagram came from it, else None.
    On Windows the usual cause is the firewall on a Public network, which drops them silently."""
    phone = source.phone
    if phone is None or source.stats().get("datagrams", 0) > 0:
        return None
    warning = (
        f"no tracking data from the phone at {phone[0]} after {PHONE_SILENCE_S:g} s: is the app running "
        f"and sending to this PC's address?"
    )
    if system == "win32":
        warning += f" Windows Firewall drops it silently on a Public network: {FIREWALL_FIX}"
    return warning


class Node:
    """Build with a NodeConfig, then ``run()`` (blocks; Ctrl+C, Ctrl+Break, SIGTERM stop it) or
    ``start()``/``stop()``.

    ``core_factory`` replaces ``Core`` (tests pass one that builds a tiny core); it gets the
    ``[core]`` section, a ``CoreOptions``.
    """

    def __init__(
        self, config: NodeConfig, core_factory: Callable[[CoreOptions], Core] | None = None
    ) -> None:
        config.validate()
        self.config = config
        self.metrics = NodeMetrics()
        self._core_factory = core_factory
        self._stop = threading.Event()
        self._slot = TrackingSlot()
        self.core: Core | None = None
        self.sinks: list[FrameSink] = []
        self.sources: list[FrameSource] = []
        self.pacer: Pacer | None = None
        self._render: RenderLoop | None = None
        self._control: ControlServer | None = None
        self._status: StatusPrinter | None = None

    # -- lifecycle ---------------------------------------------------------------------------------
    def start(self) -> None:
        """Check the settings (seconds, nothing built), then start every part; on failure, release
        what started and raise NodeError naming the part."""
        assembly.preflight(self.config)
        try:
            self._start_parts()
        except BaseException:
            self.stop()
            raise

    def _start_parts(self) -> None:
        c = self.config
        # Several threads hand work to each other every frame; Python's default 5 ms GIL switch
        # interval would add up to that much to the tracking -> frame latency at each hand-off.
        sys.setswitchinterval(0.001)
        side = c.core.frame_side
        for spec, sink in zip(c.output.output, assembly.make_sinks(c), strict=True):
            with _part(f"output {spec}"):
                sink.open(side, side)
                self.sinks.append(sink)
                sink.add_json_route("/metrics", self.snapshot)
                sink.add_status("node", self.snapshot)
                if sink.url is not None:
                    log.info("browser source: %s", sink.url)
        if (endpoint := assembly.control_endpoint(c)) is not None:
            with _part("control endpoint"):
                self._control = _control_server(endpoint, self.snapshot, self._request_calibration)
                self._control.start()
        with _part("core"):
            self.core = assembly.make_core(c.core, self._core_factory)
        self.pacer = Pacer(self._emit, fps=c.output.fps, on_marker=self._on_marker)
        self._render = RenderLoop(c, self.core, self._slot, self.pacer, self.metrics, self._stop)
        with _part(f"character image {self._render.character.path}"):
            self._render.character.load_into(self.core)
        with _part("mapping"):
            for name in assembly.mapping_names(c):
                self._render.mappers.get(name)
        self.pacer.start()
        for source in assembly.make_sources(c, self._on_tracking, self._request_calibration):
            with _part(f"input {source.__class__.__name__}"):
                source.start()
                self.sources.append(source)
        self._render.start(self.sources)
        if c.control.status:
            self._status = StatusPrinter(self.status_line, self._stop)
            self._status.start()
        phones = [source for source in self.sources if source.phone]
        if phones:
            threading.Thread(target=self._warn_about_silent_phones, args=(phones,), daemon=True).start()

    def _warn_about_silent_phones(self, phones: list[FrameSource]) -> None:
        if not self._stop.wait(PHONE_SILENCE_S):
            for source in phones:
                if (warning := silent_phone_warning(source)) is not None:
                    log.warning(warning)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the node is asked to stop (signal, max_frames, duration, end of replay)."""
        deadline = self.config.run.duration or None
        if timeout is not None:
            deadline = min(deadline, timeout) if deadline else timeout
        end = None if deadline is None else time.monotonic() + deadline
        while not self._stop.is_set():
            left = _WAIT_SLICE_S if end is None else min(_WAIT_SLICE_S, end - time.monotonic())
            if left <= 0:
                return False
            self._stop.wait(left)
        return True

    def request_stop(self) -> None:
        self._stop.set()
        self._slot.changed.set()

    def stop(self) -> None:
        """Stop everything in data-flow order; each step is bounded so the whole takes about 2 s,
        plus the rest of a frame that is being rendered (never torn down under a running inference)."""
        self.request_stop()
        budget_end = time.monotonic() + _STOP_BUDGET_S
        for source in self.sources:
            _quietly(f"stopping {source.__class__.__name__}", source.stop, 0.5)
        render_done = True
        if self._render is not None and not self._render.join(max(0.1, budget_end - time.monotonic() - 0.5)):
            # A frame is still being rendered (a slow CPU, a loaded machine): it ends by itself, and
            # the thread with it. Closing the core or leaving the process under a running inference
            # crashed the process ("terminate called", SIGABRT), so wait for it.
            log.info("stopping: waiting for the frame being rendered")
            render_done = self._render.join(_RENDER_FINISH_S)
        if self.pacer is not None:
            _quietly("stopping the pacer", self.pacer.stop, 0.5)
        for sink in self.sinks:
            _quietly(f"closing output {sink.kind}", sink.close, max(0.2, budget_end - time.monotonic()))
        if self._control is not None:
            _quietly("stopping the control endpoint", self._control.stop)
        if not render_done:
            log.warning("stopping: a frame still renders after %g s; the core is left open", _RENDER_FINISH_S)
        elif self.core is not None:
            _quietly("flushing the frame cache", self.core.close)
        if self._status is not None:
            self._status.finish()

    def run(self) -> int:
        """Start, wait for a stop reason (a STOP_SIGNAL_NAMES signal included), stop; the exit code."""
        previous = {}
        if threading.current_thread() is threading.main_thread():
            for name in STOP_SIGNAL_NAMES:
                if (sig := getattr(signal, name, None)) is not None:
                    previous[sig] = signal.signal(sig, lambda *_: self.request_stop())
        try:
            self.start()
            self.wait()
        finally:
            self.stop()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return 0

    @property
    def mappers(self) -> Mappers | None:
        """The mappings the render loop uses (None before the node starts)."""
        return self._render.mappers if self._render is not None else None

    # -- hand-offs between threads -----------------------------------------------------------------
    def _on_tracking(self, frame: TrackingFrame) -> None:  # source threads
        self._slot.publish(frame)
        if not frame.lost:
            self.metrics.input_arrived(frame.received_at)

    def _emit(self, frame: np.ndarray) -> None:  # pacer thread
        for sink in self.sinks:
            sink.send(frame)

    def _on_marker(self, received_at: float, emitted_at: float) -> None:  # pacer thread
        self.metrics.latency(emitted_at - received_at)

    def _request_calibration(self) -> None:  # control threads, the VMC receiver's thread
        if self._render is not None:
            self._render.request_calibration()

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
                if k in ("backend", "device", "variant", "precision", "precision_reason")
            }
        data["inputs"] = [{"kind": s.__class__.__name__, **s.stats()} for s in self.sources]
        return data

    def status_line(self) -> str:
        return status_line(self.snapshot(), self.config.core.frames_per_inference)


def _control_server(endpoint: tuple[str, int], snapshot: Callable, calibrate: Callable) -> ControlServer:
    try:
        return ControlServer(endpoint, snapshot, calibrate)
    except OSError as exc:
        raise NodeError(
            f"control endpoint {endpoint[0]}:{endpoint[1]} cannot listen ({exc.strerror}); "
            "another node may be running: pass --control HOST:PORT or --control off"
        ) from None


@contextlib.contextmanager
def _part(name: str) -> Iterator[None]:
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
