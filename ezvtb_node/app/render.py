"""The render loop: newest tracking → mapping → core → pacer, on one thread.

Thread ownership:

* ``TrackingSlot.publish`` runs on each source's thread; everything else here runs on the render
  thread, except ``RenderLoop.request_calibration`` (any thread: it only sets an event).
* The slot keeps the newest frame of each source, never a queue: when rendering is slower than
  tracking, stale frames are replaced, not rendered late.
* Overlay sources (the voice) add their channels to the newest face frame instead of replacing
  it, so a microphone and a face tracker drive one picture together; alone, they drive it too.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from ezvtb_node.app.assembly import character_path
from ezvtb_node.app.config import MappingSettings, NodeConfig
from ezvtb_node.app.metrics import NodeMetrics
from ezvtb_node.character import load_character
from ezvtb_node.inputs import FrameSource, TrackingFrame
from ezvtb_node.mapping import Mapper
from ezvtb_node.mapping.bundled import choose_mapping, resolve_mapping_path
from ezvtb_node.outputs import Pacer
from ezvtb_node.sources import OVERLAY_SOURCES

if TYPE_CHECKING:  # the core's runtimes load when the node builds its core, not on import
    from ezvtb_node.core.core import Core

log = logging.getLogger(__name__)

# How often the picture is refreshed without new tracking (breathing, easing to idle).
IDLE_REFRESH_S = 0.1
IMAGE_CHECK_S = 1.0
# At the end of a replay: how long the last batch may take to reach the outputs (the pacer spreads
# a batch over at most 0.25 s).
FINAL_FRAMES_S = 1.0


class TrackingSlot:
    """Newest-frame hand-off from the sources (writers) to the render thread (reader)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._frames: dict[str, tuple[int, TrackingFrame]] = {}
        self._seq = 0
        self.changed = threading.Event()

    def publish(self, frame: TrackingFrame) -> None:
        with self._lock:
            self._seq += 1
            self._frames[frame.source] = (self._seq, frame)
        self.changed.set()

    def take(self) -> tuple[TrackingFrame | None, int]:
        """(the newest merged frame or None, a number that changes whenever a frame arrives)."""
        with self._lock:
            frames, seq = dict(self._frames), self._seq
        return merge_frames(frames), seq


def merge_frames(frames: Mapping[str, tuple[int, TrackingFrame]]) -> TrackingFrame | None:
    """What the render thread draws, from the newest frame of each source:

    * the newest face frame, with the channels of every live overlay added (overlay values win
      for the channels they carry) while the face is tracked;
    * the live overlays alone (merged) when no face is tracked: the voice drives on its own;
    * else the newest frame there is (lost), or None before anything arrived.
    """
    faces = [entry for source, entry in frames.items() if source not in OVERLAY_SOURCES]
    overlays = sorted((entry for source, entry in frames.items() if source in OVERLAY_SOURCES), key=_seq)
    live = [frame for _, frame in overlays if not frame.lost]
    face = max(faces, key=_seq)[1] if faces else None
    if face is not None and not face.lost:
        base, extra = face, live
    elif live:
        base, extra = live[0], live[1:]
    else:
        newest = max([*faces, *overlays], key=_seq, default=None)
        return newest[1] if newest is not None else None
    if not extra:
        return base
    channels = dict(base.channels)
    for frame in extra:
        channels.update(frame.channels)
    newest_arrival = max(frame.received_at for frame in (base, *extra))
    return replace(base, channels=channels, received_at=newest_arrival)


def _seq(entry: tuple[int, TrackingFrame]) -> int:
    return entry[0]


class Mappers:
    """One Mapper per mapping file, chosen per frame by its source (mapping.bundled.choose_mapping)."""

    def __init__(self, settings: MappingSettings) -> None:
        self._settings = settings
        self._by_path: dict[Path, Mapper] = {}

    def get(self, name: str) -> Mapper:
        path = resolve_mapping_path(name)
        mapper = self._by_path.get(path)
        if mapper is None:
            mapper = self._by_path[path] = Mapper(path, filters=self._settings.filters)
        return mapper

    def for_frame(self, frame: TrackingFrame | None) -> Mapper:
        c = self._settings
        source, channels = (None, ()) if frame is None else (frame.source, frame.channels)
        return self.get(
            choose_mapping(source, channels, c.mapping_vmc, c.mapping_ifacialmocap, c.mapping_voice)
        )


class CharacterImage:
    """The character image file, loaded into the core, and loaded again when the file changes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._state: tuple[int, int] | None = None

    def load_into(self, core: Core) -> None:
        """First load: errors propagate (the node cannot start without a character)."""
        self._state = _file_state(self.path)
        core.setImage(load_character(self.path))

    def reload_if_changed(self, core: Core) -> None:
        """A broken save keeps the previous picture and says why; the next save is tried again."""
        state = _file_state(self.path)
        if state == self._state:
            return
        self._state = state
        try:
            image = load_character(self.path)
        except (OSError, ValueError) as exc:
            log.warning("character image not reloaded, keeping the previous one: %s", exc)
            return
        core.setImage(image)
        log.info("character image reloaded from %s", self.path)


class RenderLoop:
    """Renders the newest tracking state of ``slot`` with ``core`` into ``pacer`` until ``stop`` is
    set; see the module docstring. It owns the mappings and the character image of ``config``:
    load them (``mappers.get``, ``character.load_into``) to check them before ``start``."""

    def __init__(
        self,
        config: NodeConfig,
        core: Core,
        slot: TrackingSlot,
        pacer: Pacer,
        metrics: NodeMetrics,
        stop: threading.Event,
    ) -> None:
        self._config = config
        self._core = core
        self._slot = slot
        self._pacer = pacer
        self._metrics = metrics
        self._stop = stop
        self.mappers = Mappers(config.mapping)
        self.character = CharacterImage(character_path(config))
        self._sources: Sequence[FrameSource] = ()
        self._calibrate = threading.Event()
        self._calibrated_once = False
        self._thread = threading.Thread(target=self._run, name="ezvtb-render", daemon=True)

    def start(self, sources: Sequence[FrameSource]) -> None:
        """Render on a thread of its own; when every one of ``sources`` has played to its end (see
        ``FrameSource.wait_done``), the last frames reach the outputs and the loop stops."""
        self._sources = sources
        self._thread.start()

    def join(self, timeout: float) -> bool:
        """Wait up to ``timeout`` s for the thread to end; True when it has (or never started)."""
        if self._thread.is_alive():
            self._thread.join(timeout)
        return not self._thread.is_alive()

    def request_calibration(self) -> None:
        """Take the next tracked face as neutral (any thread)."""
        self._calibrate.set()

    def _run(self) -> None:
        c = self._config
        min_interval = c.core.frames_per_inference / c.output.fps
        last_seq = -1
        next_render = 0.0
        next_image_check = time.monotonic() + IMAGE_CHECK_S
        while not self._stop.is_set():
            self._slot.changed.wait(IDLE_REFRESH_S)
            self._slot.changed.clear()
            wait = next_render - time.monotonic()
            if wait > 0 and self._stop.wait(wait):
                break
            # Read "done" before the frame: a replay's last frame is published before it is done.
            done = bool(self._sources) and all(source.wait_done(0) for source in self._sources)
            frame, seq = self._slot.take()
            if done and seq == last_seq:
                log.info("every input played to its end")
                # Let the outputs receive what was rendered last: a short or fast replay can end
                # before the pacer's next tick, and stopping then would drop its final frames.
                self._pacer.wait_shown(FINAL_FRAMES_S)
                break
            fresh = seq != last_seq
            last_seq = seq
            now = time.monotonic()
            if now >= next_image_check:
                next_image_check = now + IMAGE_CHECK_S
                self.character.reload_if_changed(self._core)
            try:
                self._render_one(frame, fresh, now)
            except Exception as exc:  # a bad frame must not end the stream
                failed = self._metrics.render_failed()
                if failed == 1 or failed % 100 == 0:
                    log.error("rendering failed (%d so far): %s", failed, exc)
            next_render = now + min_interval
            if c.run.max_frames and self._metrics.rendered >= c.run.max_frames:
                break
        self._stop.set()

    def _render_one(self, frame: TrackingFrame | None, fresh: bool, now: float) -> None:
        lost = frame is None or frame.lost
        self._metrics.tracking(
            "waiting" if frame is None else ("lost" if lost else "live"),
            frame.source if frame is not None else None,
        )
        mapper = self.mappers.for_frame(frame)
        mapper.reload_if_changed()
        channels = frame.channels if frame is not None else {}
        calibrate_first = self._config.mapping.calibrate and not self._calibrated_once
        if not lost and (self._calibrate.is_set() or calibrate_first):
            mapper.calibrate_neutral(channels)
            self._calibrate.clear()
            self._calibrated_once = True
        start = time.perf_counter()
        pose = mapper.update(channels, now, lost=lost)
        frames = self._core.inference(pose)
        self._metrics.frame_rendered(time.perf_counter() - start, time.monotonic())
        marker = frame.received_at if (fresh and not lost and frame is not None) else None
        self._pacer.submit(frames, marker=marker)


def _file_state(path: Path) -> tuple[int, int] | None:
    try:
        info = path.stat()
    except OSError:
        return None
    return info.st_mtime_ns, info.st_size
