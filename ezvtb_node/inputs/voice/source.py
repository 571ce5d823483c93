"""The voice input: a microphone or a WAV file in, lip-sync channels out (source "voice").

Every hop (10 ms by default: 100 frames per second of audio) the source publishes a
:class:`TrackingFrame` with

* ``voice.level`` — 0 (silence, below the profile's noise gate) … 1 (at or above its full level),
  linear in dB between; it rises at once and falls over at most 80 ms;
* ``voice.a``, ``voice.i``, ``voice.u``, ``voice.e``, ``voice.o`` — vowel weights in [0, 1] that
  sum to 1 while there is sound and are all 0 once the level is back at 0 (a pause). Mappings
  multiply them by ``voice.level`` (see mappings/README.md).

``t`` is the audio clock: seconds of audio up to the end of the hop (for a file, the position in
it). ``received_at`` is ``time.monotonic()`` when the block that completed the hop came from the
device (or the file). A WAV file is read as fast as it decodes unless ``realtime=True``; at its end
the source publishes the lost state once (as a trace replay does) and ``wait_done()`` returns.

A microphone that goes away (unplugged, sound server gone, or silent for ``stall_after`` seconds
while it claims to run) publishes the lost state and is reopened every ``reopen_interval``
seconds until it is back; nothing raises out of the source's thread.

:func:`open_voice_source` builds a source from the two user-facing settings (``--audio`` and
``--voice-profile``) and validates both before anything starts.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from ezvtb_node.channels import VOICE_CHANNELS
from ezvtb_node.inputs.source import DEFAULT_LOST_AFTER_S, FrameCallback, FrameSource
from ezvtb_node.inputs.tracking import TrackingFrame
from ezvtb_node.inputs.voice.analyzer import DEFAULT_HOP_MS, DEFAULT_SMOOTHING_S, VoiceAnalyzer
from ezvtb_node.inputs.voice.audio import (
    AudioDeviceError,
    AudioFormatError,
    AudioInput,
    DeviceLost,
    MicInput,
    WavInput,
    find_input_device,
)
from ezvtb_node.inputs.voice.features import hop_frames
from ezvtb_node.inputs.voice.profile import VoiceProfile, load_profile
from ezvtb_node.inputs.voice.synth import default_profile
from ezvtb_node.sources import VOICE

_TICK_S = 0.05  # how long the thread waits for audio before it checks the lost state


class VoiceSource(FrameSource):
    """Publishes voice frames from an :class:`AudioInput` on its own thread (see the module doc)."""

    name = VOICE
    COUNTERS = (*FrameSource.COUNTERS, "blocks", "overflows", "device_lost", "reopen_failures")

    def __init__(
        self,
        audio: AudioInput,
        profile: VoiceProfile | None = None,
        *,
        hop_ms: float = DEFAULT_HOP_MS,
        smoothing_s: float = DEFAULT_SMOOTHING_S,
        reopen_interval: float = 1.0,
        stall_after: float = 2.0,
        lost_after: float = DEFAULT_LOST_AFTER_S,
        on_frame: FrameCallback | None = None,
    ) -> None:
        super().__init__(lost_after=lost_after, on_frame=on_frame)
        self.audio = audio
        self.profile = profile or default_profile()
        self.hop_ms = hop_ms
        self.smoothing_s = smoothing_s
        self.reopen_interval = reopen_interval
        self.stall_after = stall_after
        # Built now so a bad hop size fails here, not on the thread.
        self.analyzer = VoiceAnalyzer(audio.sample_rate, self.profile, hop_ms=hop_ms, smoothing_s=smoothing_s)
        self._done = threading.Event()

    @property
    def address(self) -> str:
        """What is being listened to (a device or a file), for status lines."""
        return self.audio.describe()

    def wait_done(self, timeout: float | None = None) -> bool:
        """Wait until a WAV file was played to its end (never for a microphone); True when done."""
        return self._done.wait(timeout)

    def stats(self) -> dict[str, int]:
        stats = super().stats()
        overflows = getattr(self.audio, "overflows", 0) + getattr(self.audio, "dropped", 0)
        stats["overflows"] = int(overflows)
        return stats

    # --- source side -----------------------------------------------------------------------------
    def _open(self) -> None:
        self._done.clear()
        wake = getattr(self.audio, "wake", None)
        if wake is not None:
            wake.clear()
        self.audio.open()

    def _close(self) -> None:
        self.audio.close()

    def _wake(self) -> None:
        wake = getattr(self.audio, "wake", None)
        if wake is not None:
            wake.set()

    def _run(self) -> None:
        last_block_at = time.monotonic()
        while not self._stopping.is_set():
            try:
                item = self.audio.read(_TICK_S)
                if item is None and time.monotonic() - last_block_at > self.stall_after:
                    raise DeviceLost(f"no audio from {self.audio.describe()} for {self.stall_after:g} s")
            except StopIteration:
                if not self._stopping.is_set():  # the end of the file, not a stop() mid-way
                    self._publish_lost(time.monotonic())
                    self._done.set()
                return
            except DeviceLost as exc:
                self._recover(str(exc))
                last_block_at = time.monotonic()
                continue
            except Exception as exc:
                # Whatever a driver raises mid-stream, the process must go on: treat it as a lost device.
                self._recover(f"audio input failed: {exc!r}")
                last_block_at = time.monotonic()
                continue
            if item is None:
                self._check_lost(time.monotonic())
                continue
            block, arrived = item
            last_block_at = arrived
            self._counters.add("blocks")
            for reading in self.analyzer.feed(block):
                self._publish(TrackingFrame(self.name, reading.channels(), reading.t, arrived))

    def _publish_lost(self, now: float) -> None:
        last = self._latest
        if last is None:
            silent = {name: 0.0 for name in VOICE_CHANNELS}
            self._publish(TrackingFrame(self.name, silent, 0.0, now, lost=True))
        elif not last.lost:
            self._publish(last.marked_lost(now))

    def _recover(self, reason: str) -> None:
        """Report the lost state, then reopen the input every ``reopen_interval`` s until it works."""
        self._counters.add("device_lost")
        self._warn.warning(
            "device_lost", f"voice: {reason}; lost, reopening every {self.reopen_interval:g} s"
        )
        self._publish_lost(time.monotonic())
        self.audio.close()
        while not self._stopping.wait(self.reopen_interval):
            try:
                self.audio.open()
            except Exception as exc:
                self._counters.add("reopen_failures")
                self._warn.warning("reopen", f"voice: cannot reopen {self.audio.describe()} yet: {exc}")
                continue
            self._log.info("voice: %s is back", self.audio.describe())
            return


def is_audio_file(audio: str) -> bool:
    """Whether ``--audio`` names a file (ends in .wav or holds a path separator) rather than a device."""
    return audio.lower().endswith(".wav") or "/" in audio or "\\" in audio


def open_voice_source(
    audio: str,
    profile: str | Path | VoiceProfile | None = None,
    *,
    realtime: bool = False,
    hop_ms: float = DEFAULT_HOP_MS,
    smoothing_s: float = DEFAULT_SMOOTHING_S,
    **frame_source_options,
) -> VoiceSource:
    """A voice source for ``--audio`` and ``--voice-profile``, validated but not started.

    ``audio``: a WAV file (a name ending in .wav, or any path), ``"mic"`` for the default input
    device, or a device's index or name (case-insensitive substrings, e.g. ``"USB"``).
    ``profile``: a profile JSON path, a loaded profile, or None for the built-in default.
    ``realtime`` paces a WAV file like a live microphone. Other options go to :class:`VoiceSource`
    (``lost_after``, ``on_frame``, ``reopen_interval``, ``stall_after``).

    Raises FileNotFoundError, :class:`~ezvtb_node.inputs.voice.audio.AudioFormatError`,
    :class:`~ezvtb_node.inputs.voice.audio.AudioDeviceError` or
    :class:`~ezvtb_node.inputs.voice.profile.ProfileError` (all with messages for the user) before any
    thread or stream starts.
    """
    if isinstance(profile, VoiceProfile):
        loaded = profile
    elif profile is None:
        loaded = default_profile()
    else:
        loaded = load_profile(profile)
    if not isinstance(audio, str) or not audio.strip():
        raise AudioDeviceError(f"expected --audio FILE.wav, 'mic' or a device name or index, got {audio!r}")
    source_input: AudioInput
    if is_audio_file(audio):
        source_input = WavInput(audio, realtime=realtime)
        hop = hop_frames(source_input.sample_rate, hop_ms / 1000.0)
        if source_input.info.frames < hop:
            raise AudioFormatError(
                f"{audio}: expected at least one analysis hop of audio ({hop_ms:g} ms, {hop} frames), "
                f"got {source_input.info.frames} frames ({source_input.info.duration * 1000:.1f} ms)"
            )
    else:
        source_input = MicInput(find_input_device(audio), block_ms=hop_ms)
    return VoiceSource(source_input, loaded, hop_ms=hop_ms, smoothing_s=smoothing_s, **frame_source_options)
