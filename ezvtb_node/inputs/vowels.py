"""Vowels from sound, by signal processing only: features, voice profiles, the classifier, calibration.

**Features** (``FEATURE_SET``): every analysis window (32 ms, Hann) gives its loudness in dBFS (the
energy of the voice band, 100 Hz to 5 kHz, so DC offset, mains hum and hiss are not voice; −100 for
silence) and 12 mel-frequency cepstral coefficients c1…c12 (24 triangular mel bands from 100 Hz to
5 kHz of the pre-emphasised spectrum, log energies, DCT-II). c0 (overall loudness) is left out so
vowels do not depend on how loud they are. The bands are defined in Hz, so the same voice gives the
same features at 16, 44.1 or 48 kHz: nothing is resampled.

**Room noise** (:class:`NoiseFloor`): each band's noise is the quietest moment of the last few
seconds (minimum statistics) and is taken out before loudness and features are computed, so steady
noise reads as silence in the pauses and disturbs the vowels less.

**Profile**: one mean feature vector per vowel (a, i, u, e, o: VRM's A I U E O presets), a
per-coefficient spread (how much one vowel's frames scatter), and the level range: ``gate_db``
(quieter is silence: level 0) and ``full_db`` (this loud or louder: level 1). Saved as JSON
(:func:`save_profile`, :func:`load_profile`, validated with messages naming the key).

**Classifier**: features and vowel means are both taken relative to a *centre* (cepstral mean
normalisation: a microphone's colour and a voice's timbre shift every vowel alike, and the shift
cancels); then the squared distance to each vowel's mean in units of the spread, summed over the
coefficients, gives weights = softmax(−d² / (2·12·temperature)) (12 = the coefficients: the
temperature is per coefficient). They sum to 1. The centre is the
average of the profile's vowel means; with ``adapt`` (the default profile) it is learnt from the
speaker within seconds (:class:`CentreTracker`).

**Calibration**: one take of a, i, u, e, o in that order with pauses between them is cut into
sounds by loudness (:func:`find_segments`); the middle 60 % of each sound gives that vowel's mean.
The pauses and the sounds give the level range. A take whose five sounds the built-in profile
clearly hears in another order is refused (:func:`heard_order`).

**Default profile** (:func:`default_profile`): vowel means computed from a formant synthesiser
driven by approximate average formants of Japanese vowels, over a few vocal-tract sizes and pitches.
It opens and closes the mouth for anyone and gets most vowels right for most voices (measured in
docs/inputs.md); calibrating fits them to one voice.
"""

from __future__ import annotations

import itertools
import json
import math
from collections import deque
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

VOWELS: tuple[str, ...] = ("a", "i", "u", "e", "o")
FEATURE_SET = "mfcc12-mel24-100-5000Hz-32ms"
PROFILE_FORMAT = "ezvtb-voice-profile"
PROFILE_VERSION = 1

WINDOW_S = 0.032
FMIN_HZ = 100.0
FMAX_HZ = 5000.0
N_MELS = 24
N_CEPS = 12
PRE_EMPHASIS = 0.97
SILENCE_DB = -100.0
_POWER_FLOOR = 10.0 ** (SILENCE_DB / 10.0)

DEFAULT_GATE_DB = -50.0
DEFAULT_FULL_DB = -20.0
DEFAULT_TEMPERATURE = 1.0
ADAPT_TAU_S = 8.0  # once learnt, the centre follows slow changes (gain, microphone) over this long
ADAPT_PRIOR_S = 1.5  # the profile's centre counts as this much speech: a new voice is learnt in seconds
MIN_SPREAD = 0.3  # a single take scatters little; a floor keeps the classifier from being brittle


class ProfileError(ValueError):
    """A voice profile file that cannot be used; the message names the file and the key."""


class CalibrationError(ValueError):
    """A calibration take that cannot be cut into the five vowels; the message says what to do."""


# ---------------------------------------------------------------------------------------- features


def _hz_to_mel(hz: np.ndarray | float) -> np.ndarray:
    return 2595.0 * np.log10(1.0 + np.asarray(hz) / 700.0)


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    return 700.0 * (10.0 ** (mel / 2595.0) - 1.0)


class FeatureExtractor:
    """Band energies, loudness and cepstral features of analysis windows at ``sample_rate`` (module doc).

    One FFT per window gives 25 band energies: the 24 mel bands of the pre-emphasised spectrum
    (pre-emphasis applied as its gain on the spectrum) and, last, the energy of the voice band
    (``FMIN_HZ`` … ``FMAX_HZ``) of the plain spectrum, scaled so that a tone in the band reads
    its mean square. Loudness comes from that band, so DC offset and mains hum below it, and hiss
    above it, do not count as voice.
    """

    def __init__(self, sample_rate: int) -> None:
        self.sample_rate = int(sample_rate)
        self.window_frames = max(16, round(sample_rate * WINDOW_S))
        self.nfft = 1 << (self.window_frames - 1).bit_length()
        self._window = np.hanning(self.window_frames)
        freqs = np.fft.rfftfreq(self.nfft, 1.0 / sample_rate)
        edges = _mel_to_hz(np.linspace(_hz_to_mel(FMIN_HZ), _hz_to_mel(FMAX_HZ), N_MELS + 2))
        bands = np.zeros((N_MELS + 1, freqs.size))
        for i in range(N_MELS):
            low, centre, high = edges[i : i + 3]
            rising = (freqs - low) / (centre - low)
            falling = (high - freqs) / (high - centre)
            bands[i] = np.clip(np.minimum(rising, falling), 0.0, None)
        omega = 2.0 * np.pi * freqs / sample_rate
        bands[:N_MELS] *= 1.0 + PRE_EMPHASIS**2 - 2.0 * PRE_EMPHASIS * np.cos(omega)  # |1 − 0.97 z⁻¹|²
        # Band energies as densities (÷ bin count, × bin width): the same sound gives the same
        # numbers whatever the FFT size, so profiles carry over between sample rates. The voice band
        # counts both halves of the spectrum (× 2), so a tone reads its mean square.
        bands /= self.nfft * np.sum(self._window**2)
        bands[N_MELS] = (
            2.0 * ((freqs >= FMIN_HZ) & (freqs <= FMAX_HZ)) / (self.nfft * np.sum(self._window**2))
        )
        used = bands.any(axis=0)
        self._first_bin = int(np.argmax(used))
        self._last_bin = int(len(used) - np.argmax(used[::-1]))
        self._bands = np.ascontiguousarray(bands[:, self._first_bin : self._last_bin])
        k = np.arange(N_MELS)
        dct = np.cos(np.pi / N_MELS * (k[None, :] + 0.5) * np.arange(1, N_CEPS + 1)[:, None])
        self._dct = dct * math.sqrt(2.0 / N_MELS)

    def energies(self, window: np.ndarray) -> np.ndarray:
        """The 25 band energies (see the class doc) of one window of ``window_frames`` samples."""
        spectrum = np.fft.rfft(np.asarray(window, dtype=np.float64) * self._window, self.nfft)
        part = spectrum[self._first_bin : self._last_bin]
        return self._bands @ (part.real**2 + part.imag**2)

    def all_energies(self, signal: np.ndarray, hop_frames: int) -> np.ndarray:
        """Band energies (n, 25) of every window ending at a multiple of ``hop_frames``.

        Window ``j`` ends after sample ``(j + 1) · hop_frames``; the first windows are zero-padded
        on the left, as the streaming analyser's are (so both give the same numbers).
        """
        x = np.asarray(signal, dtype=np.float64)
        n = len(x) // hop_frames
        out = np.zeros((n, N_MELS + 1))
        padded = np.concatenate([np.zeros(self.window_frames), x[: n * hop_frames]])
        view = np.lib.stride_tricks.sliding_window_view(padded, self.window_frames)
        for first in range(0, n, 512):  # in chunks: a long take would otherwise need gigabytes
            j = np.arange(first, min(n, first + 512))
            spectrum = np.fft.rfft(view[(j + 1) * hop_frames] * self._window, self.nfft, axis=1)
            part = spectrum[:, self._first_bin : self._last_bin]
            out[j] = (part.real**2 + part.imag**2) @ self._bands.T
        return out

    def features(self, energies: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(loudness in dBFS, c1…c12) of band energies (25,) or (n, 25)."""
        db = 10.0 * np.log10(energies[..., N_MELS] + _POWER_FLOOR)
        return db, np.log(energies[..., :N_MELS] + _POWER_FLOOR) @ self._dct.T

    def frame(self, window: np.ndarray) -> tuple[float, np.ndarray]:
        """(loudness in dBFS, c1…c12) of one window, with no noise removed."""
        db, feats = self.features(self.energies(window))
        return float(db), feats

    def frames(
        self, signal: np.ndarray, hop_frames: int, *, remove_noise: bool = True
    ) -> tuple[np.ndarray, np.ndarray]:
        """Loudness (n,) and features (n, 12) of every window, as :meth:`all_energies` places them.

        With ``remove_noise`` the room's noise is tracked and taken out (:class:`NoiseFloor`)
        exactly as the streaming analyser does it, and windows that still hold zero padding read
        as silence (the jump from the padding to a DC offset or hum would sound like a click).
        """
        energies = self.all_energies(signal, hop_frames)
        if remove_noise:
            floor = NoiseFloor(hop_frames / self.sample_rate)
            for j in range(len(energies)):
                energies[j] = floor.clean(energies[j]) if (j + 1) * hop_frames >= self.window_frames else 0.0
        return self.features(energies)


NOISE_WINDOW_S = 3.0  # the floor is the quietest moment of this long: speech pauses more often than that
NOISE_PARTS = 12  # the window is kept as minima of this many parts (it slides a part at a time)
NOISE_SMOOTHING_S = 0.06  # energies are smoothed over this long before the minimum is taken
NOISE_OVERSUBTRACT = 4.0  # × the floor is taken away: room noise peaks well above its smoothed minimum
NOISE_SPECTRAL_FLOOR = 0.05  # a mel band keeps at least this share of its energy (no log of nothing)


class NoiseFloor:
    """The room's noise in each band, tracked by minimum statistics, and its removal.

    Each band's energy is smoothed (``NOISE_SMOOTHING_S``); the noise is the smallest smoothed value
    of the last ``NOISE_WINDOW_S`` seconds: speech pauses (between words, for breath) more often
    than that, noise does not. ``clean`` takes ``NOISE_OVERSUBTRACT`` × that away: the voice band to
    nothing when only noise is left (a pause reads as silence, level 0), each mel band to no less
    than ``NOISE_SPECTRAL_FLOOR`` of its energy. A vowel held longer than the window fades: it is
    indistinguishable from a steady hum.
    """

    def __init__(self, hop_s: float) -> None:
        self._part_frames = max(1, round(NOISE_WINDOW_S / NOISE_PARTS / hop_s))
        self._alpha = 1.0 - math.exp(-hop_s / NOISE_SMOOTHING_S)
        self._smoothed: np.ndarray | None = None
        self._minima: deque[np.ndarray] = deque(maxlen=NOISE_PARTS)
        self._part_min: np.ndarray | None = None
        self._part_count = 0
        self.noise = np.zeros(N_MELS + 1)

    def clean(self, energies: np.ndarray) -> np.ndarray:
        """``energies`` (25,) of the next window, with the noise taken out."""
        self._learn(energies)
        removed = energies - NOISE_OVERSUBTRACT * self.noise
        cleaned = np.maximum(removed, NOISE_SPECTRAL_FLOOR * energies)
        cleaned[N_MELS] = max(0.0, removed[N_MELS])
        return cleaned

    def _learn(self, energies: np.ndarray) -> None:
        if self._smoothed is None:
            self._smoothed = energies.copy()
        else:
            self._smoothed += self._alpha * (energies - self._smoothed)
        smoothed = self._smoothed
        self._part_min = smoothed.copy() if self._part_min is None else np.minimum(self._part_min, smoothed)
        self._part_count += 1
        self.noise = (
            np.minimum(self._part_min, np.min(self._minima, axis=0)) if self._minima else self._part_min
        )
        if self._part_count == self._part_frames:
            self._minima.append(self._part_min)
            self._part_min = None
            self._part_count = 0


# ---------------------------------------------------------------------------------------- profiles


@dataclass(frozen=True)
class VoiceProfile:
    """Vowel means (5, 12), the spread (12,), and the level range in dBFS (see the module doc)."""

    means: np.ndarray
    spread: np.ndarray
    gate_db: float = DEFAULT_GATE_DB
    full_db: float = DEFAULT_FULL_DB
    source: str = ""
    extra: dict[str, Any] = field(default_factory=dict)  # kept as written (e.g. calibration notes)
    adapt: bool = False  # let the centre follow the speaker (see the module doc)

    def __post_init__(self) -> None:
        means = np.asarray(self.means, dtype=np.float64)
        spread = np.asarray(self.spread, dtype=np.float64)
        if means.shape != (len(VOWELS), N_CEPS) or spread.shape != (N_CEPS,):
            raise ValueError(
                f"expected means (5, {N_CEPS}) and spread ({N_CEPS},), got {means.shape}, {spread.shape}"
            )
        if not (np.isfinite(means).all() and np.isfinite(spread).all() and (spread > 0).all()):
            raise ValueError("expected finite means and a positive finite spread")
        if not self.full_db > self.gate_db:
            raise ValueError(f"expected full_db above gate_db, got {self.full_db:g} <= {self.gate_db:g}")
        object.__setattr__(self, "means", means)
        object.__setattr__(self, "spread", spread)

    @property
    def centre(self) -> np.ndarray:
        """The average of the vowel means: where the classifier's centre starts."""
        return self.means.mean(axis=0)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": PROFILE_FORMAT,
            "version": PROFILE_VERSION,
            "features": FEATURE_SET,
            "source": self.source,
            "adapt": self.adapt,
            "level": {"gate_db": round(self.gate_db, 2), "full_db": round(self.full_db, 2)},
            "vowels": {v: [round(float(c), 5) for c in self.means[i]] for i, v in enumerate(VOWELS)},
            "spread": [round(float(c), 5) for c in self.spread],
            **({"notes": self.extra} if self.extra else {}),
        }


def save_profile(profile: VoiceProfile, path: str | Path) -> None:
    """Write ``profile`` as JSON (readable, one vowel a line)."""
    data = profile.to_json()
    lines = ["{"]
    items = list(data.items())
    for n, (key, value) in enumerate(items):
        comma = "," if n < len(items) - 1 else ""
        if key == "vowels":
            inner = ",\n".join(f'    "{v}": {json.dumps(value[v])}' for v in VOWELS)
            lines.append(f'  "vowels": {{\n{inner}\n  }}{comma}')
        else:
            lines.append(f"  {json.dumps(key)}: {json.dumps(value)}{comma}")
    lines.append("}")
    Path(path).write_text("\n".join(lines) + "\n", encoding="utf-8")


_MISSING = "nothing (the key is missing)"


def _shown(value: Any) -> str:
    """A value as a message shows it: short, with its bad part visible."""
    text = json.dumps(value) if not isinstance(value, float) or math.isfinite(value) else repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _numbers(value: Any, count: int, where: str) -> list[float]:
    if value is None:
        raise ProfileError(f"{where}: expected a list of {count} finite numbers, got {_MISSING}")
    if not isinstance(value, list):
        raise ProfileError(f"{where}: expected a list of {count} finite numbers, got {_shown(value)}")
    if len(value) != count:
        raise ProfileError(f"{where}: expected a list of {count} finite numbers, got a list of {len(value)}")
    for n, x in enumerate(value):
        if not isinstance(x, int | float) or isinstance(x, bool) or not math.isfinite(x):
            raise ProfileError(f"{where}[{n}]: expected a finite number, got {_shown(x)}")
    return [float(x) for x in value]


def profile_from_json(data: Any, where: str = "profile") -> VoiceProfile:
    """Validate parsed profile JSON; errors name ``where`` and the key."""
    if not isinstance(data, dict):
        raise ProfileError(f"{where}: expected a JSON object, got {type(data).__name__}")
    if data.get("format") != PROFILE_FORMAT:
        raise ProfileError(f'{where}: expected "format": "{PROFILE_FORMAT}", got {data.get("format")!r}')
    if data.get("version") != PROFILE_VERSION:
        raise ProfileError(f'{where}: expected "version": {PROFILE_VERSION}, got {data.get("version")!r}')
    if data.get("features") != FEATURE_SET:
        raise ProfileError(
            f'{where}: expected "features": "{FEATURE_SET}", got {data.get("features")!r} '
            "(made by another version: calibrate again)"
        )
    vowels = data.get("vowels")
    if not isinstance(vowels, dict) or sorted(vowels) != sorted(VOWELS):
        got = sorted(vowels) if isinstance(vowels, dict) else _shown(vowels)
        if vowels is None:
            got = _MISSING
        raise ProfileError(f'{where}: "vowels": expected an object with keys {list(VOWELS)}, got {got}')
    means = [_numbers(vowels[v], N_CEPS, f'{where}: "vowels"."{v}"') for v in VOWELS]
    spread = _numbers(data.get("spread"), N_CEPS, f'{where}: "spread"')
    for n, value in enumerate(spread):
        if value <= 0:
            raise ProfileError(f'{where}: "spread"[{n}]: expected a positive number, got {value:g}')
    level = data.get("level")
    if not isinstance(level, dict):
        got = _MISSING if level is None else _shown(level)
        raise ProfileError(f'{where}: "level": expected an object with "gate_db" and "full_db", got {got}')
    gate = level.get("gate_db")
    full = level.get("full_db")
    for key, value in (("gate_db", gate), ("full_db", full)):
        if not isinstance(value, int | float) or isinstance(value, bool) or not -120 <= value <= 0:
            got = _MISSING if value is None else _shown(value)
            raise ProfileError(f'{where}: "level"."{key}": expected dBFS from -120 to 0, got {got}')
    if not full > gate:
        raise ProfileError(f'{where}: "level": expected full_db above gate_db, got {full} <= {gate}')
    source = data.get("source", "")
    notes = data.get("notes", {})
    adapt = data.get("adapt", False)
    if not isinstance(adapt, bool):
        raise ProfileError(f'{where}: "adapt": expected true or false, got {adapt!r}')
    return VoiceProfile(
        np.array(means),
        np.array(spread),
        float(gate),
        float(full),
        source if isinstance(source, str) else "",
        notes if isinstance(notes, dict) else {},
        adapt,
    )


def load_profile(path: str | Path) -> VoiceProfile:
    """Read and validate a profile file; raises FileNotFoundError or :class:`ProfileError`."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"voice profile not found: {path}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise ProfileError(f"{path}: expected a UTF-8 JSON voice profile, got undecodable bytes") from None
    except json.JSONDecodeError as exc:
        raise ProfileError(f"{path}: expected a JSON voice profile, got invalid JSON ({exc})") from None
    return profile_from_json(data, str(path))


# -------------------------------------------------------------------------------------- classifier


class VowelClassifier:
    """Vowel weights (a, i, u, e, o; summing to 1) of one feature vector under a profile."""

    def __init__(self, profile: VoiceProfile, temperature: float = DEFAULT_TEMPERATURE) -> None:
        if not temperature > 0:
            raise ValueError(f"temperature must be positive, got {temperature!r}")
        self.profile = profile
        self._inv_spread = 1.0 / profile.spread
        self._scaled_means = (profile.means - profile.centre) * self._inv_spread
        self._centre = profile.centre
        self._k = -0.5 / (N_CEPS * temperature)

    def distances(self, features: np.ndarray, centre: np.ndarray | None = None) -> np.ndarray:
        """Squared distances (5,) in units of the spread, features taken relative to ``centre``."""
        relative = features - (self._centre if centre is None else centre)
        diff = self._scaled_means - relative * self._inv_spread
        return np.einsum("ij,ij->i", diff, diff)

    def weights(self, features: np.ndarray, centre: np.ndarray | None = None) -> np.ndarray:
        logits = self.distances(features, centre) * self._k
        e = np.exp(logits - logits.max())
        return e / e.sum()


class CentreTracker:
    """The classifier's centre: the profile's, or (``profile.adapt``) learnt from the voice.

    ``update`` is called for voiced frames only, with the weights the classifier gave them. Each
    frame says where the centre would be if it were the vowel it was heard as (its features less
    that vowel's offset from the profile's centre). The centre is the running mean of those: at
    first of all frames so far and the profile's own centre counted as ``prior_s`` seconds of
    speech (a new voice is learnt within seconds), then over the last ``tau_s`` seconds.
    """

    def __init__(
        self, profile: VoiceProfile, tau_s: float = ADAPT_TAU_S, prior_s: float = ADAPT_PRIOR_S
    ) -> None:
        self.adapt = profile.adapt
        self.tau_s = tau_s
        self.prior_s = prior_s
        self.heard_s = 0.0
        self.value = profile.centre.copy()
        self._offsets = profile.means - profile.centre

    def update(self, features: np.ndarray, weights: np.ndarray, dt: float) -> None:
        if self.adapt:
            self.heard_s += dt
            # Less the heard vowel's offset: a vowel held for long must not drag the centre onto itself.
            target = features - self._offsets[int(np.argmax(weights))]
            share = dt / min(self.tau_s, self.prior_s + self.heard_s)
            self.value += min(1.0, share) * (target - self.value)


class LevelMeter:
    """Loudness (dBFS) → level in [0, 1]: a noise gate, a linear range in dB, a short release.

    Below ``gate_db`` the level is 0 (the gate), at ``full_db`` and above it is 1, linear in dB
    between. It rises at once and falls by at most 1/``release_s`` per second, so the mouth does
    not flutter closed between syllables.
    """

    def __init__(self, gate_db: float, full_db: float, release_s: float = 0.08) -> None:
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


# ------------------------------------------------------------------------------------- calibration

CALIBRATION_HOP_S = 0.01
MIN_SOUND_S = 0.15  # shorter bursts (clicks, breaths) are not vowels
MERGE_GAP_S = 0.12  # a dip shorter than this inside a vowel does not split it
MIN_CONTRAST_DB = 15.0


@dataclass(frozen=True)
class Segment:
    """A sound found in a take: frame indices [start, end) of the analysis hop."""

    start: int
    end: int

    def seconds(self, hop_s: float = CALIBRATION_HOP_S) -> tuple[float, float]:
        return (self.start * hop_s, self.end * hop_s)


@dataclass(frozen=True)
class CalibrationResult:
    profile: VoiceProfile
    segments: dict[str, tuple[float, float]]  # vowel → (start s, end s) in its take
    self_check: dict[str, float]  # vowel → share of its own frames the profile classifies right
    warnings: list[str]


def _runs_above(db: np.ndarray, threshold: float) -> list[Segment]:
    """The runs of consecutive frames louder than ``threshold``, in order."""
    above = np.concatenate([[False], db > threshold, [False]])
    edges = np.flatnonzero(np.diff(above.astype(np.int8)))
    return [Segment(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2], strict=True)]


def find_segments(db: np.ndarray, hop_s: float = CALIBRATION_HOP_S) -> tuple[list[Segment], float]:
    """Sounds separated by pauses in a loudness track; returns them and the threshold used (dBFS).

    The threshold sits halfway (in dB) between the quiet floor (10th percentile) and the loud
    level (95th percentile). Raises :class:`CalibrationError` when there is no such contrast.
    """
    if len(db) == 0:
        raise CalibrationError("expected a take of a few seconds, got no audio")
    quiet, loud = float(np.percentile(db, 10)), float(np.percentile(db, 95))
    if loud - quiet < MIN_CONTRAST_DB:
        raise CalibrationError(
            f"expected vowels separated by pauses, got a take whose quiet and loud parts differ by only "
            f"{loud - quiet:.0f} dB (need {MIN_CONTRAST_DB:.0f}): leave silent pauses between the vowels"
        )
    threshold = (quiet + loud) / 2.0
    runs = [[run.start, run.end] for run in _runs_above(db, threshold)]
    merged: list[list[int]] = []
    for run in runs:
        if merged and (run[0] - merged[-1][1]) * hop_s < MERGE_GAP_S:
            merged[-1][1] = run[1]
        else:
            merged.append(run)
    return [Segment(a, b) for a, b in merged if (b - a) * hop_s >= MIN_SOUND_S], threshold


def _middle(segment: Segment, share: float = 0.6) -> slice:
    """The middle ``share`` of a segment: onsets and releases are not the vowel itself."""
    length = segment.end - segment.start
    cut = int(length * (1.0 - share) / 2.0)
    return slice(segment.start + cut, segment.end - cut)


def _level_range(speech_db: float, quiet_db: float) -> tuple[float, float]:
    """Gate 10 dB over the room's noise but at most 30 dB under the voice; full 3 dB over the voice."""
    gate = max(quiet_db + 10.0, speech_db - 30.0)
    full = speech_db + 3.0
    if full - gate < 6.0:
        raise CalibrationError(
            f"expected the voice well above the room noise, got speech at {speech_db:.0f} dBFS over noise at "
            f"{quiet_db:.0f} dBFS: move closer to the microphone or turn its gain up"
        )
    return gate, full


ORDER_MARGIN = 1.5  # another order must fit this many times better than a i u e o to be believed


def heard_order(means: np.ndarray) -> tuple[str, ...]:
    """The order of vowels the built-in profile hears in five sounds' mean features (5, 12).

    Each sound is taken relative to the five's average (so the voice's own colour cancels) and the
    five are matched to the built-in vowels as a whole: the assignment with the least summed
    distance wins, unless a i u e o is within ``ORDER_MARGIN`` of it (a close call is no evidence).
    """
    classifier = VowelClassifier(default_profile())
    centre = means.mean(axis=0)
    cost = np.array([classifier.distances(m, centre) for m in means])  # sound × vowel

    def total(order: tuple[int, ...]) -> float:
        return float(sum(cost[sound, vowel] for sound, vowel in enumerate(order)))

    identity = tuple(range(len(VOWELS)))
    best = min(itertools.permutations(identity), key=total)
    if total(identity) <= ORDER_MARGIN * total(best):
        best = identity
    return tuple(VOWELS[vowel] for vowel in best)


def _check_order(means: np.ndarray) -> None:
    heard = heard_order(means)
    if heard != VOWELS:
        raise CalibrationError(
            f"expected the vowels in the order {', '.join(VOWELS)}, heard {', '.join(heard)}: "
            "say あ い う え お (a i u e o) in that order and calibrate again"
        )


def _build(
    features: dict[str, np.ndarray],
    speech_db: float,
    quiet_db: float,
    source: str,
    segments: dict[str, tuple[float, float]],
) -> CalibrationResult:
    means = np.array([features[v].mean(axis=0) for v in VOWELS])
    _check_order(means)
    within = np.mean([features[v].var(axis=0) for v in VOWELS], axis=0)
    spread = np.sqrt(within) + MIN_SPREAD
    gate, full = _level_range(speech_db, quiet_db)
    notes = {
        "speech_db": round(speech_db, 1),
        "quiet_db": round(max(quiet_db, SILENCE_DB), 1),
        "segments_s": {v: [round(a, 2), round(b, 2)] for v, (a, b) in segments.items()},
    }
    profile = VoiceProfile(means, spread, gate, full, source, notes)
    classifier = VowelClassifier(profile)
    self_check = {}
    warnings = []
    for i, v in enumerate(VOWELS):
        won = [int(np.argmin(classifier.distances(f))) == i for f in features[v]]
        self_check[v] = float(np.mean(won))
        if self_check[v] < 0.6:
            warnings.append(
                f"'{v}' is hard to tell apart in this take ({self_check[v]:.0%} of its frames recognised): "
                "say each vowel steadily and distinctly, then calibrate again"
            )
    return CalibrationResult(profile, segments, self_check, warnings)


def calibrate_take(samples: np.ndarray, sample_rate: int, source: str = "") -> CalibrationResult:
    """A profile from one take of a, i, u, e, o in that order with pauses between them.

    Raises :class:`CalibrationError` unless exactly five sounds are found, naming what was found.
    """
    extractor = FeatureExtractor(sample_rate)
    hop = max(1, round(sample_rate * CALIBRATION_HOP_S))
    db, feats = extractor.frames(samples, hop)
    segments, threshold = find_segments(db)
    if len(segments) != len(VOWELS):
        found = ", ".join(f"{a:.2f}–{b:.2f} s" for a, b in (s.seconds() for s in segments)) or "none"
        raise CalibrationError(
            f"expected 5 vowels (a, i, u, e, o in that order, with a pause of half a second or more between "
            f"them), found {len(segments)} sound{'s' if len(segments) != 1 else ''}: {found}"
        )
    by_vowel = {v: feats[_middle(s)] for v, s in zip(VOWELS, segments, strict=True)}
    voiced = np.concatenate([db[_middle(s)] for s in segments])
    quiet = db[db < threshold]
    quiet_db = float(np.median(quiet)) if quiet.size else SILENCE_DB
    spans = {v: s.seconds() for v, s in zip(VOWELS, segments, strict=True)}
    return _build(by_vowel, float(np.median(voiced)), quiet_db, source, spans)


def calibrate_takes(
    silence: np.ndarray, takes: dict[str, np.ndarray], sample_rate: int, source: str = ""
) -> CalibrationResult:
    """A profile from a recording of the room's silence and one recording per vowel (the --mic prompts).

    In each vowel's recording the longest sound louder than the room is taken as the vowel.
    """
    missing = [v for v in VOWELS if v not in takes]
    if missing:
        raise CalibrationError(f"expected a recording for each of {', '.join(VOWELS)}, missing {missing}")
    extractor = FeatureExtractor(sample_rate)
    hop = max(1, round(sample_rate * CALIBRATION_HOP_S))
    room = silence[: len(silence) - len(silence) % hop]
    quiet_db = float(np.median(extractor.frames(room, hop)[0])) if len(room) else SILENCE_DB
    by_vowel: dict[str, np.ndarray] = {}
    voiced: list[np.ndarray] = []
    spans = {}
    for v in VOWELS:
        # The room's recording goes first, so the noise floor is known before the vowel starts.
        db, feats = extractor.frames(np.concatenate([room, takes[v]]), hop)
        db, feats = db[len(room) // hop :], feats[len(room) // hop :]
        loud = float(np.percentile(db, 95)) if db.size else SILENCE_DB
        if loud - quiet_db < MIN_CONTRAST_DB:
            raise CalibrationError(
                f"expected to hear '{v}', got nothing louder than the room ({loud:.0f} dBFS against "
                f"{quiet_db:.0f} dBFS): speak up or move closer to the microphone"
            )
        threshold = (quiet_db + loud) / 2.0
        runs = _runs_above(db, threshold)
        best = max(runs, key=lambda s: s.end - s.start)
        if (best.end - best.start) * CALIBRATION_HOP_S < MIN_SOUND_S * 2:
            raise CalibrationError(f"expected a steady '{v}' of half a second or more, got {best.seconds()}")
        by_vowel[v] = feats[_middle(best)]
        voiced.append(db[_middle(best)])
        spans[v] = best.seconds()
    return _build(by_vowel, float(np.median(np.concatenate(voiced))), quiet_db, source, spans)


# --------------------------------------------------------------------------------- default profile

# Approximate average formants (F1, F2, F3 in Hz) of the five Japanese vowels for an adult male
# voice; other voices are modelled by scaling the vocal tract (all formants × s). "u" is a back,
# rounded u (F2 near 750 Hz, as espeak-ng speaks it) rather than the fronter Tokyo [ɯ] (F2 near
# 1300 Hz): with the fronter one, espeak-ng's u was never heard as u (issue 19).
_FORMANTS = {
    "a": (800.0, 1250.0, 2600.0),
    "i": (300.0, 2300.0, 3000.0),
    "u": (330.0, 750.0, 2300.0),
    "e": (500.0, 1900.0, 2600.0),
    "o": (500.0, 850.0, 2600.0),
}
_F4_HZ = 3500.0
_BANDWIDTHS = (80.0, 100.0, 150.0, 200.0)
_TRACT_SCALES = (1.0, 1.12, 1.25)
_PITCHES_HZ = (110.0, 170.0, 240.0)
_TILT_SPREAD = 3.0  # c1 follows the microphone and the voice's tilt more than the vowel: trust it less


def synthesize_vowel(
    vowel: str, f0: float, tract_scale: float = 1.0, sample_rate: int = 16_000, seconds: float = 0.5
) -> np.ndarray:
    """A steady synthetic vowel: harmonics of ``f0`` shaped by four formant resonances.

    Built directly as a sum of sinusoids (no IIR filter, so numpy alone does it fast): a glottal
    source falling 12 dB per octave, lip radiation rising 6, and each formant a two-pole resonance.
    """
    formants = [f * tract_scale for f in _FORMANTS[vowel]] + [_F4_HZ * tract_scale]
    harmonics = np.arange(1, int((sample_rate / 2 - 100) // f0) + 1) * f0
    amplitude = 1.0 / (harmonics / f0)
    for centre, width in zip(formants, _BANDWIDTHS, strict=True):
        half = width / 2.0
        amplitude *= (centre**2 + half**2) / np.sqrt(
            ((harmonics - centre) ** 2 + half**2) * ((harmonics + centre) ** 2 + half**2)
        )
    rng = np.random.default_rng(len(harmonics))  # fixed phases: the default profile is deterministic
    phases = rng.uniform(0.0, 2.0 * np.pi, harmonics.size)
    t = np.arange(int(sample_rate * seconds)) / sample_rate
    wave = np.sin(2.0 * np.pi * harmonics[:, None] * t[None, :] + phases[:, None]).T @ amplitude
    return (0.3 * wave / np.abs(wave).max()).astype(np.float32)


@lru_cache(maxsize=1)
def default_profile() -> VoiceProfile:
    """The built-in profile (see the module doc); level range -50 … -20 dBFS."""
    rate = 16_000
    extractor = FeatureExtractor(rate)
    hop = rate // 100
    skip = extractor.window_frames // hop + 1  # windows that still hold the zero padding
    features: dict[str, np.ndarray] = {}
    for v in VOWELS:
        frames = [
            extractor.frames(synthesize_vowel(v, f0, scale, rate, 0.2), hop, remove_noise=False)[1][skip:]
            for scale in _TRACT_SCALES
            for f0 in _PITCHES_HZ
        ]
        features[v] = np.concatenate(frames)
    means = np.array([features[v].mean(axis=0) for v in VOWELS])
    spread = np.sqrt(np.mean([features[v].var(axis=0) for v in VOWELS], axis=0)) + MIN_SPREAD
    spread[0] *= _TILT_SPREAD
    return VoiceProfile(means, spread, DEFAULT_GATE_DB, DEFAULT_FULL_DB, "built-in default", adapt=True)
