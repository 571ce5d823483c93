"""Features of sound for vowels, by signal processing only: loudness, cepstra, room noise.

Every analysis window (32 ms, Hann) gives its loudness in dBFS (the energy of the voice band, 100 Hz
to 5 kHz, so DC offset, mains hum and hiss are not voice; −100 for silence) and 12 mel-frequency
cepstral coefficients c1…c12 (24 triangular mel bands from 100 Hz to 5 kHz of the pre-emphasised
spectrum, log energies, DCT-II): ``FEATURE_SET``. c0 (overall loudness) is left out so vowels do not
depend on how loud they are. The bands are defined in Hz, so the same voice gives the same features
at 16, 44.1 or 48 kHz: nothing is resampled.

**Room noise** (:class:`NoiseFloor`): each band's noise is the quietest moment of the last few
seconds (minimum statistics) and is taken out before loudness and features are computed, so steady
noise reads as silence in the pauses and disturbs the vowels less.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np

FEATURE_SET = "mfcc12-mel24-100-5000Hz-32ms"
WINDOW_S = 0.032
FMIN_HZ = 100.0
FMAX_HZ = 5000.0
N_MELS = 24
N_CEPS = 12
PRE_EMPHASIS = 0.97
SILENCE_DB = -100.0
_POWER_FLOOR = 10.0 ** (SILENCE_DB / 10.0)


def _hz_to_mel(hz: np.ndarray | float) -> np.ndarray:
    return 2595.0 * np.log10(1.0 + np.asarray(hz) / 700.0)


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    return 700.0 * (10.0 ** (mel / 2595.0) - 1.0)


def hop_frames(sample_rate: float, seconds: float) -> int:
    """Samples per analysis hop of ``seconds`` at ``sample_rate`` (at least one)."""
    return max(1, round(sample_rate * seconds))


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
