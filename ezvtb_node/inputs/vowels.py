"""Vowels from sound, by signal processing only: features, voice profiles, the classifier, calibration.

**Features** (``FEATURE_SET``): every analysis window (32 ms, Hann, pre-emphasis 0.97) gives its
loudness in dBFS (RMS of the raw samples; −100 for digital silence) and 12 mel-frequency cepstral
coefficients c1…c12 (24 triangular mel bands from 100 Hz to 5 kHz, log energies, DCT-II).
c0 (overall loudness) is left out so vowels do not depend on how loud they are. The bands are
defined in Hz, so the same voice gives the same features at 16, 44.1 or 48 kHz: nothing is resampled.

**Profile**: one mean feature vector per vowel (a, i, u, e, o: VRM's A I U E O presets), a
per-coefficient spread (how much one vowel's frames scatter), and the level range: ``gate_db``
(quieter is silence: level 0) and ``full_db`` (this loud or louder: level 1). Saved as JSON
(:func:`save_profile`, :func:`load_profile`, validated with messages naming the key).

**Classifier**: features and vowel means are both taken relative to a *centre* (cepstral mean
normalisation: a microphone's colour and a voice's timbre shift every vowel alike, and the shift
cancels); then the squared distance to each vowel's mean in units of the spread, summed over the
coefficients, gives weights = softmax(−d² / (2·12·temperature)) (12 = the coefficients: the
temperature is per coefficient). They sum to 1. The centre is the
average of the profile's vowel means; with ``adapt`` (the default profile) it follows the speaker
instead: a running mean of the voiced frames over about ``ADAPT_TAU_S`` seconds of speech.

**Calibration**: one take of a, i, u, e, o in that order with pauses between them is cut into
sounds by loudness (:func:`find_segments`); the middle 60 % of each sound gives that vowel's mean.
The pauses and the sounds give the level range.

**Default profile** (:func:`default_profile`): vowel means computed from a formant synthesiser
driven by approximate average formants of Japanese vowels, over a few vocal-tract sizes and pitches.
Rough by design: it opens and closes the mouth for anyone, and gets the vowel right for some
voices; calibrating fixes the vowels.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from ezvtb_node.textfiles import read_text_file

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
ADAPT_TAU_S = 8.0  # long enough that a held vowel barely moves the centre, short enough to settle
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
    """Loudness and cepstral features of one analysis window at ``sample_rate`` (see the module doc)."""

    def __init__(self, sample_rate: int) -> None:
        self.sample_rate = int(sample_rate)
        self.window_frames = max(16, round(sample_rate * WINDOW_S))
        self.nfft = 1 << (self.window_frames - 1).bit_length()
        self._window = np.hanning(self.window_frames)
        freqs = np.fft.rfftfreq(self.nfft, 1.0 / sample_rate)
        edges = _mel_to_hz(np.linspace(_hz_to_mel(FMIN_HZ), _hz_to_mel(FMAX_HZ), N_MELS + 2))
        bands = np.zeros((N_MELS, freqs.size))
        for i in range(N_MELS):
            low, centre, high = edges[i : i + 3]
            rising = (freqs - low) / (centre - low)
            falling = (high - freqs) / (high - centre)
            bands[i] = np.clip(np.minimum(rising, falling), 0.0, None)
        # Band energies as densities (÷ bin count, × bin width): the same sound gives the same
        # numbers whatever the FFT size, so profiles carry over between sample rates.
        bands /= self.nfft * np.sum(self._window**2)
        used = bands.any(axis=0)
        self._first_bin = int(np.argmax(used))
        self._last_bin = int(len(used) - np.argmax(used[::-1]))
        self._bands = np.ascontiguousarray(bands[:, self._first_bin : self._last_bin])
        k = np.arange(N_MELS)
        dct = np.cos(np.pi / N_MELS * (k[None, :] + 0.5) * np.arange(1, N_CEPS + 1)[:, None])
        self._dct = dct * math.sqrt(2.0 / N_MELS)

    def frame(self, window: np.ndarray) -> tuple[float, np.ndarray]:
        """(loudness in dBFS, c1…c12) of one window of ``window_frames`` samples."""
        x = np.asarray(window, dtype=np.float64)
        power = float(np.dot(x, x)) / x.size
        db = 10.0 * math.log10(power + _POWER_FLOOR)
        y = np.empty_like(x)
        y[1:] = x[1:] - PRE_EMPHASIS * x[:-1]
        y[0] = x[0] * (1.0 - PRE_EMPHASIS)
        spectrum = np.fft.rfft(y * self._window, self.nfft)[self._first_bin : self._last_bin]
        energy = self._bands @ (spectrum.real**2 + spectrum.imag**2)
        return db, self._dct @ np.log(energy + _POWER_FLOOR)

    def frames(self, signal: np.ndarray, hop_frames: int) -> tuple[np.ndarray, np.ndarray]:
        """Loudness (n,) and features (n, 12) of every window ending at a multiple of ``hop_frames``.

        Window ``j`` ends after sample ``(j + 1) · hop_frames``; the first windows are zero-padded
        on the left, as the streaming analyser's are (so both give the same numbers).
        """
        x = np.asarray(signal, dtype=np.float64)
        n = len(x) // hop_frames
        db = np.zeros(n)
        feats = np.zeros((n, N_CEPS))
        padded = np.concatenate([np.zeros(self.window_frames), x[: n * hop_frames]])
        view = np.lib.stride_tricks.sliding_window_view(padded, self.window_frames)
        for first in range(0, n, 512):  # in chunks: a long take would otherwise need gigabytes
            j = np.arange(first, min(n, first + 512))
            windows = view[(j + 1) * hop_frames]
            db[j] = 10.0 * np.log10(np.mean(windows**2, axis=1) + _POWER_FLOOR)
            y = np.empty_like(windows)
            y[:, 1:] = windows[:, 1:] - PRE_EMPHASIS * windows[:, :-1]
            y[:, 0] = windows[:, 0] * (1.0 - PRE_EMPHASIS)
            spectrum = np.fft.rfft(y * self._window, self.nfft, axis=1)[:, self._first_bin : self._last_bin]
            energy = (spectrum.real**2 + spectrum.imag**2) @ self._bands.T
            feats[j] = np.log(energy + _POWER_FLOOR) @ self._dct.T
        return db, feats


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


def _numbers(value: Any, count: int, where: str) -> list[float]:
    if (
        not isinstance(value, list)
        or len(value) != count
        or not all(isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x) for x in value)
    ):
        got = f"a list of {len(value)}" if isinstance(value, list) else type(value).__name__
        raise ProfileError(f"{where}: expected a list of {count} finite numbers, got {got}")
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
        got = sorted(vowels) if isinstance(vowels, dict) else type(vowels).__name__
        raise ProfileError(f'{where}: "vowels": expected an object with keys {list(VOWELS)}, got {got}')
    means = [_numbers(vowels[v], N_CEPS, f'{where}: "vowels"."{v}"') for v in VOWELS]
    spread = _numbers(data.get("spread"), N_CEPS, f'{where}: "spread"')
    if min(spread) <= 0:
        raise ProfileError(f'{where}: "spread": expected positive numbers, got {min(spread):g}')
    level = data.get("level", {})
    if not isinstance(level, dict):
        raise ProfileError(f'{where}: "level": expected an object, got {type(level).__name__}')
    gate = level.get("gate_db", DEFAULT_GATE_DB)
    full = level.get("full_db", DEFAULT_FULL_DB)
    for key, value in (("gate_db", gate), ("full_db", full)):
        if not isinstance(value, int | float) or isinstance(value, bool) or not -120 <= value <= 0:
            raise ProfileError(f'{where}: "level"."{key}": expected dBFS from -120 to 0, got {value!r}')
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
        data = json.loads(read_text_file(path))
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
    """The classifier's centre: the profile's, or (``profile.adapt``) a running mean of voiced frames.

    ``update`` is called with the features of voiced frames only; each moves the centre by
    ``dt / tau_s`` of the way, so it settles over about ``tau_s`` seconds of speech.
    """

    def __init__(self, profile: VoiceProfile, tau_s: float = ADAPT_TAU_S) -> None:
        self.adapt = profile.adapt
        self.tau_s = tau_s
        self.value = profile.centre.copy()

    def update(self, features: np.ndarray, dt: float) -> None:
        if self.adapt:
            self.value += min(1.0, dt / self.tau_s) * (features - self.value)


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


def _build(
    features: dict[str, np.ndarray],
    speech_db: float,
    quiet_db: float,
    source: str,
    segments: dict[str, tuple[float, float]],
) -> CalibrationResult:
    means = np.array([features[v].mean(axis=0) for v in VOWELS])
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
    quiet_db = float(np.median(extractor.frames(silence, hop)[0])) if len(silence) >= hop else SILENCE_DB
    by_vowel: dict[str, np.ndarray] = {}
    voiced: list[np.ndarray] = []
    spans = {}
    for v in VOWELS:
        db, feats = extractor.frames(takes[v], hop)
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
# voice; other voices are modelled by scaling the vocal tract (all formants × s).
_FORMANTS = {
    "a": (800.0, 1250.0, 2600.0),
    "i": (300.0, 2300.0, 3000.0),
    "u": (350.0, 1350.0, 2400.0),
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
            extractor.frames(synthesize_vowel(v, f0, scale, rate, seconds=0.2), hop)[1][skip:]
            for scale in _TRACT_SCALES
            for f0 in _PITCHES_HZ
        ]
        features[v] = np.concatenate(frames)
    means = np.array([features[v].mean(axis=0) for v in VOWELS])
    spread = np.sqrt(np.mean([features[v].var(axis=0) for v in VOWELS], axis=0)) + MIN_SPREAD
    spread[0] *= _TILT_SPREAD
    return VoiceProfile(means, spread, DEFAULT_GATE_DB, DEFAULT_FULL_DB, "built-in default", adapt=True)
