"""Audio blocks in, one reading (loudness, mouth level, vowel weights) per hop out; no threads.

:class:`VoiceAnalyzer` strings the steps together: band energies of the newest window
(:mod:`.features`), the room's noise taken out, the level from the loudness (:class:`LevelMeter`)
and the vowel weights (:mod:`.classifier`), smoothed while there is sound.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ezvtb_node.channels import VOICE_CHANNELS
from ezvtb_node.inputs.voice.classifier import CentreTracker, VowelClassifier
from ezvtb_node.inputs.voice.features import N_MELS, FeatureExtractor, NoiseFloor, hop_frames
from ezvtb_node.inputs.voice.profile import VOWELS, VoiceProfile

DEFAULT_HOP_MS = 10.0
DEFAULT_SMOOTHING_S = 0.03
DEFAULT_RELEASE_S = 0.08
_VOWEL_CHANNELS = tuple(f"voice.{v}" for v in VOWELS)
assert ("voice.level", *_VOWEL_CHANNELS) == VOICE_CHANNELS


class LevelMeter:
    """Loudness (dBFS) → level in [0, 1]: a noise gate, a linear range in dB, a short release.

    Below ``gate_db`` the level is 0 (the gate), at ``full_db`` and above it is 1, linear in dB
    between. It rises at once and falls by at most 1/``release_s`` per second, so the mouth does
    not flutter closed between syllables.
    """

    def __init__(self, gate_db: float, full_db: float, release_s: float = DEFAULT_RELEASE_S) -> None:
        if not full_db > gate_db:
            raise ValueError(f"expected full_db above gate_db, got {full_db} <= {gate_db}")
        self.gate_db = gate_db
        self.full_db = full_db
        self.release_s = release_s
        self.level = 0.0

    def raw(self, db: float) -> float:
        return min(1.0, max(0.0, (db - self.gate_db) / (self.full_db - self.gate_db)))

    def update(self, db: float, dt: float) -> float:
        raw = self.raw(db)
        fallen = self.level - dt / self.release_s if self.release_s > 0 else 0.0
        self.level = raw if raw >= fallen else max(0.0, fallen)
        return self.level


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
        self.hop_frames = hop_frames(sample_rate, hop_ms / 1000.0)
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
