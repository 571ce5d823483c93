"""Calibration: a voice profile from a take of the five vowels (or from prompts at the microphone).

One take of a, i, u, e, o in that order with pauses between them is cut into sounds by loudness
(:func:`find_segments`); the middle 60 % of each sound gives that vowel's mean. The pauses and the
sounds give the level range. A take whose five sounds the built-in profile clearly hears in another
order is refused (:func:`heard_order`).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from ezvtb_node.inputs.voice.classifier import VowelClassifier
from ezvtb_node.inputs.voice.features import SILENCE_DB, FeatureExtractor, hop_frames
from ezvtb_node.inputs.voice.profile import MIN_SPREAD, VOWELS, VoiceProfile
from ezvtb_node.inputs.voice.synth import default_profile

CALIBRATION_HOP_S = 0.01
MIN_SOUND_S = 0.15  # shorter bursts (clicks, breaths) are not vowels
MERGE_GAP_S = 0.12  # a dip shorter than this inside a vowel does not split it
MIN_CONTRAST_DB = 15.0


class CalibrationError(ValueError):
    """A calibration take that cannot be cut into the five vowels; the message says what to do."""


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
    hop = hop_frames(sample_rate, CALIBRATION_HOP_S)
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
    hop = hop_frames(sample_rate, CALIBRATION_HOP_S)
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
