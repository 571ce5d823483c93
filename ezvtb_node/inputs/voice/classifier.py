"""Vowel weights of a feature vector under a profile, relative to a centre that may follow the voice.

Features and vowel means are both taken relative to a *centre* (cepstral mean normalisation: a
microphone's colour and a voice's timbre shift every vowel alike, and the shift cancels); then the
squared distance to each vowel's mean in units of the spread, summed over the coefficients, gives
weights = softmax(−d² / (2·12·temperature)) (12 = the coefficients: the temperature is per
coefficient). They sum to 1. The centre is the average of the profile's vowel means; with ``adapt``
(the built-in profile) it is learnt from the speaker within seconds (:class:`CentreTracker`).
"""

from __future__ import annotations

import numpy as np

from ezvtb_node.inputs.voice.features import N_CEPS
from ezvtb_node.inputs.voice.profile import VoiceProfile

DEFAULT_TEMPERATURE = 1.0
ADAPT_TAU_S = 8.0  # once learnt, the centre follows slow changes (gain, microphone) over this long
ADAPT_PRIOR_S = 1.5  # the profile's centre counts as this much speech: a new voice is learnt in seconds


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
