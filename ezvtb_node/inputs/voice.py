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

import math
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ezvtb_node.channels import VOICE_CHANNELS
from ezvtb_node.inputs.audio import (
    AudioDeviceError,
    AudioFormatError,
    AudioInput,
    DeviceLost,
    MicInput,
    WavInput,
    find_input_device,
)
from ezvtb_node.inputs.source import DEFAULT_LOST_AFTER_S, FrameCallback, FrameSource
from ezvtb_node.inputs.tracking import TrackingFrame
from ezvtb_node.inputs.vowels import (
    N_MELS,
    VOWELS,
    CentreTracker,
    FeatureExtractor,
    LevelMeter,
    NoiseFloor,
    VoiceProfile,
    VowelClassifier,
    default_profile,
    load_profile,
)
from ezvtb_node.sources import VOICE

DEFAULT_HOP_MS = 10.0
DEFAULT_SMOOTHING_S = 0.03
DEFAULT_RELEASE_S = 0.08
_TICK_S = 0.05  # how long the thread waits for audio before it checks the lost state
_VOWEL_CHANNELS = tuple(f"voice.{v}" for v in VOWELS)
assert ("voice.level", *_VOWEL_CHANNELS) == VOICE_CHANNELS


@dataclass(frozen=True)
class VoiceReading:
    """One hop's result: audio time at its end (s), loudness (dBFS), level and vowel weights (5,)."""

    t: float
    db: float
    level: float
    weights: np.ndarray

    def channels(self) -> dict[str, float]:
        values = {"voice.level": round(self.level, 4)}
        values.update(zip(_VOWEL_CHANNELS, (round(float(w), 4) for w in self.weights), strict=True))
        return values


class VoiceAnalyzer:
    """Blocks of any length in, one :class:`VoiceReading` per hop out (no threads: easy to test).

    The analysis window (32 ms) ends at each hop's last sample, so a reading describes the newest
    audio; before 32 ms of audio the window is zero-padded on the left.
    Vowel weights are smoothed with a time constant of ``smoothing_s`` while there is sound and
    start afresh at each onset, so the first frame of a word already shows its vowel.
    """

    def __init__(
        self,
        sample_rate: int,
        profile: VoiceProfile,
        *,
        hop_ms: float = DEFAULT_HOP_MS,
        smoothing_s: float = DEFAULT_SMOOTHING_S,
        release_s: float = DEFAULT_RELEASE_S,
    ) -> None:
        if not 1.0 <= hop_ms <= 20.0:
            raise ValueError(f"hop_ms must be from 1 to 20 ms (at least 50 frames a second), got {hop_ms!r}")
        self.sample_rate = sample_rate
        self.profile = profile
        self.extractor = FeatureExtractor(sample_rate)
        self.hop_frames = max(1, round(sample_rate * hop_ms / 1000.0))
        self.hop_s = self.hop_frames / sample_rate
        self.classifier = VowelClassifier(profile)
        self.centre = CentreTracker(profile)
        self.meter = LevelMeter(profile.gate_db, profile.full_db, release_s)
        self.noise = NoiseFloor(self.hop_s)
        self._alpha = 1.0 - math.exp(-self.hop_s / smoothing_s) if smoothing_s > 0 else 1.0
        self._window = np.zeros(self.extractor.window_frames)
        self._pending = np.zeros(0, dtype=np.float32)
        self._weights = np.zeros(len(VOWELS))
        self._sounding = False
        self.frames_consumed = 0

    def feed(self, block: np.ndarray) -> list[VoiceReading]:
        pending = np.concatenate([self._pending, block]) if self._pending.size else block
        hop = self.hop_frames
        readings = []
        start = 0
        while len(pending) - start >= hop:
            self._push(pending[start : start + hop])
            start += hop
            self.frames_consumed += hop
            readings.append(self._analyse())
        self._pending = np.array(pending[start:], dtype=np.float32)
        return readings

    def _push(self, samples: np.ndarray) -> None:
        window = self._window
        n = len(samples)
        if n >= len(window):
            window[:] = samples[-len(window) :]
        else:
            window[:-n] = window[n:]
            window[-n:] = samples

    def _analyse(self) -> VoiceReading:
        if self.frames_consumed >= self.extractor.window_frames:
            energies = self.noise.clean(self.extractor.energies(self._window))
        else:  # the window still holds zero padding: its jump to the audio would read as a click
            energies = np.zeros(N_MELS + 1)
        db, features = self.extractor.features(energies)
        db = float(db)
        level = self.meter.update(db, self.hop_s)
        t = self.frames_consumed / self.sample_rate
        if self.meter.raw(db) > 0.0:
            weights = self.classifier.weights(features, self.centre.value)
            self.centre.update(features, weights, self.hop_s)
            if self._sounding:
                self._weights += self._alpha * (weights - self._weights)
            else:
                self._weights = weights
                self._sounding = True
        elif level == 0.0:
            # A pause: the weights say nothing, and a mapping that forgets the level still closes.
            self._weights = np.zeros(len(VOWELS))
            self._sounding = False
        return VoiceReading(t, db, level, self._weights.copy())


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

    Raises FileNotFoundError, :class:`~ezvtb_node.inputs.audio.AudioFormatError`,
    :class:`~ezvtb_node.inputs.audio.AudioDeviceError` or
    :class:`~ezvtb_node.inputs.vowels.ProfileError` (all with messages for the user) before any
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
        hop_frames = max(1, round(source_input.sample_rate * hop_ms / 1000.0))
        if source_input.info.frames < hop_frames:
            raise AudioFormatError(
                f"{audio}: expected at least one analysis hop of audio ({hop_ms:g} ms, {hop_frames} frames), "
                f"got {source_input.info.frames} frames ({source_input.info.duration * 1000:.1f} ms)"
            )
    else:
        source_input = MicInput(find_input_device(audio), block_ms=hop_ms)
    return VoiceSource(source_input, loaded, hop_ms=hop_ms, smoothing_s=smoothing_s, **frame_source_options)
