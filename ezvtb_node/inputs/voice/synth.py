"""The built-in voice profile, from a formant synthesiser (no recording of anyone's voice).

Vowel means are computed from synthetic vowels driven by approximate average formants of Japanese
vowels, over a few vocal-tract sizes and pitches. The profile opens and closes the mouth for anyone
and gets most vowels right for most voices (measured in docs/inputs.md); calibrating fits them to
one voice.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from ezvtb_node.inputs.voice.features import FeatureExtractor
from ezvtb_node.inputs.voice.profile import (
    DEFAULT_FULL_DB,
    DEFAULT_GATE_DB,
    MIN_SPREAD,
    VOWELS,
    VoiceProfile,
)

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
