"""Vowel features, profiles, the classifier, the level meter and the calibration maths (no threads)."""

import json
import re

import numpy as np
import pytest

from ezvtb_node.inputs.voice.analyzer import LevelMeter, VoiceAnalyzer
from ezvtb_node.inputs.voice.calibration import CalibrationError, calibrate_take, calibrate_takes
from ezvtb_node.inputs.voice.classifier import VowelClassifier
from ezvtb_node.inputs.voice.features import FeatureExtractor
from ezvtb_node.inputs.voice.profile import VOWELS, ProfileError, VoiceProfile, load_profile, save_profile
from ezvtb_node.inputs.voice.synth import default_profile, synthesize_vowel


def synthetic_take(
    rate: int = 16000, vowels=VOWELS, pause_s: float = 0.5, noise_db: float = -70.0
) -> np.ndarray:
    """Synthetic vowels (0.8 s each) with pauses, over a little noise so the pauses are a real room."""
    rng = np.random.default_rng(1)
    parts = []
    for i, vowel in enumerate(vowels):
        parts += [np.zeros(int(rate * pause_s)), synthesize_vowel(vowel, 140 + 10 * i, 1.05, rate, 0.8)]
    parts.append(np.zeros(int(rate * pause_s)))
    take = np.concatenate(parts)
    return (take + rng.normal(0, 10 ** (noise_db / 20), take.size)).astype(np.float32)


def test_streaming_and_offline_features_are_the_same_numbers():
    rate = 22050
    signal = synthetic_take(rate)[: rate * 2]
    analyzer = VoiceAnalyzer(rate, default_profile(), hop_ms=10)
    readings = []
    for start in range(0, len(signal), 333):  # blocks that do not line up with the hop
        readings += analyzer.feed(signal[start : start + 333])
    db, _ = FeatureExtractor(rate).frames(signal, analyzer.hop_frames)
    assert len(readings) == len(db) == len(signal) // analyzer.hop_frames
    assert np.allclose([r.db for r in readings], db, atol=1e-9)
    assert [r.t for r in readings] == pytest.approx((np.arange(len(db)) + 1) * analyzer.hop_frames / rate)


def test_features_do_not_depend_on_the_sample_rate():
    # The same vowel at 16 and 48 kHz lands far closer to itself than to any other vowel (steady
    # tones with no pause: no room noise to take out).
    profile_16k = VoiceProfile(
        np.array(
            [
                FeatureExtractor(16000)
                .frames(synthesize_vowel(v, 150, 1.0, 16000), 160, remove_noise=False)[1][5:]
                .mean(0)
                for v in VOWELS
            ]
        ),
        np.ones(12),
    )
    classifier = VowelClassifier(profile_16k)
    extractor = FeatureExtractor(48000)
    for i, vowel in enumerate(VOWELS):
        features = extractor.frames(synthesize_vowel(vowel, 150, 1.0, 48000), 480, remove_noise=False)[1][
            5:
        ].mean(0)
        distances = classifier.distances(features)
        assert distances.argmin() == i
        assert distances[i] < 0.25 * np.delete(distances, i).min()


def test_calibration_finds_the_five_vowels_and_the_level_range():
    result = calibrate_take(synthetic_take(), 16000, source="test")
    assert result.warnings == []
    assert all(share == 1.0 for share in result.self_check.values())
    starts = [result.segments[v][0] for v in VOWELS]
    assert starts == pytest.approx([0.5 + 1.3 * i for i in range(5)], abs=0.05)
    profile = result.profile
    assert -75 < profile.gate_db < profile.full_db < 0
    assert profile.full_db - profile.gate_db >= 20


def test_calibration_with_four_sounds_says_what_it_found():
    take = synthetic_take(vowels=("a", "i", "u", "e"))
    with pytest.raises(CalibrationError) as caught:
        calibrate_take(take, 16000)
    message = str(caught.value)
    assert message.startswith("expected 5 vowels (a, i, u, e, o in that order")
    # Each sound as heard through the 32 ms analysis window, which trails the sound itself.
    assert re.search(
        r"found 4 sounds: 0\.50–1\.3\d s, 1\.80–2\.6\d s, 3\.10–3\.9\d s, 4\.40–5\.2\d s$", message
    )


def test_calibration_without_pauses_asks_for_them():
    steady = synthesize_vowel("a", 150, 1.0, 16000, 5.0)
    with pytest.raises(CalibrationError, match="leave silent pauses between the vowels"):
        calibrate_take(steady, 16000)


def test_calibration_from_prompted_recordings():
    rate = 16000
    silence = np.random.default_rng(2).normal(0, 1e-3, rate).astype(np.float32)
    takes = {
        v: np.concatenate([silence[:4000], synthesize_vowel(v, 180, 1.15, rate, 1.5), silence[:8000]])
        for v in VOWELS
    }
    result = calibrate_takes(silence, takes, rate)
    assert all(share == 1.0 for share in result.self_check.values())
    assert result.segments["a"][0] == pytest.approx(0.25, abs=0.05)
    with pytest.raises(CalibrationError, match="expected to hear 'u', got nothing louder than the room"):
        calibrate_takes(silence, {**takes, "u": silence}, rate)


def test_profiles_round_trip_through_json(tmp_path):
    profile = calibrate_take(synthetic_take(), 16000, source="test").profile
    path = tmp_path / "p.json"
    save_profile(profile, path)
    loaded = load_profile(path)
    assert np.allclose(loaded.means, profile.means, atol=1e-4)
    assert np.allclose(loaded.spread, profile.spread, atol=1e-4)
    assert (loaded.gate_db, loaded.full_db) == pytest.approx((profile.gate_db, profile.full_db), abs=0.01)
    assert loaded.source == "test" and loaded.adapt is False


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda d: d.update(version=2), 'expected "version": 1, got 2'),
        (lambda d: d.update(format="other"), 'expected "format": "ezvtb-voice-profile", got \'other\''),
        (
            lambda d: d["vowels"].pop("o"),
            "expected an object with keys ['a', 'i', 'u', 'e', 'o'], got ['a', 'e', 'i', 'u']",
        ),
        (
            lambda d: d["vowels"].update(a=[1.0, 2.0]),
            '"vowels"."a": expected a list of 12 finite numbers, got a list of 2',
        ),
        (lambda d: d.update(spread=[1.0] * 11 + [0.0]), '"spread"[11]: expected a positive number, got 0'),
        (
            lambda d: d["vowels"]["u"].__setitem__(3, "x"),
            '"vowels"."u"[3]: expected a finite number, got "x"',
        ),
        (
            lambda d: d["vowels"]["e"].__setitem__(0, None),
            '"vowels"."e"[0]: expected a finite number, got null',
        ),
        (lambda d: d.pop("vowels"), '"vowels": expected an object with keys'),
        (lambda d: d.pop("vowels"), "got nothing (the key is missing)"),
        (
            lambda d: d.pop("spread"),
            '"spread": expected a list of 12 finite numbers, got nothing (the key is missing)',
        ),
        (lambda d: d.update(spread="wide"), '"spread": expected a list of 12 finite numbers, got "wide"'),
        (lambda d: d.pop("level"), '"level": expected an object with "gate_db" and "full_db", got nothing'),
        (lambda d: d["level"].pop("gate_db"), '"level"."gate_db": expected dBFS from -120 to 0, got nothing'),
        (
            lambda d: d["level"].update(gate_db=-10, full_db=-20),
            "expected full_db above gate_db, got -20 <= -10",
        ),
        (lambda d: d["level"].update(full_db=5), '"level"."full_db": expected dBFS from -120 to 0, got 5'),
        (lambda d: d.update(adapt="yes"), "\"adapt\": expected true or false, got 'yes'"),
    ],
)
def test_bad_profiles_name_the_key(tmp_path, edit, expected):
    data = default_profile().to_json()
    edit(data)
    path = tmp_path / "p.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ProfileError) as caught:
        load_profile(path)
    assert str(caught.value) == f"{path}: {expected}" or expected in str(caught.value)
    assert str(path) in str(caught.value)


def test_a_profile_that_is_not_json_says_so(tmp_path):
    path = tmp_path / "p.json"
    path.write_text("not json", encoding="utf-8")
    with pytest.raises(ProfileError, match="expected a JSON voice profile, got invalid JSON"):
        load_profile(path)


def test_the_level_gate_range_and_release():
    meter = LevelMeter(gate_db=-50.0, full_db=-20.0, release_s=0.08)
    assert meter.update(-60.0, 0.01) == 0.0  # below the gate: silence
    assert meter.update(-35.0, 0.01) == pytest.approx(0.5)  # halfway in dB
    assert meter.update(-10.0, 0.01) == 1.0  # past full: held at 1
    assert meter.update(-90.0, 0.01) == pytest.approx(1.0 - 0.125)  # falls by 1/80 ms
    for _ in range(7):
        meter.update(-90.0, 0.01)
    assert meter.update(-90.0, 0.01) == 0.0


def test_weights_sum_to_one_and_the_nearest_vowel_wins():
    profile = default_profile()
    classifier = VowelClassifier(profile)
    for i, _vowel in enumerate(VOWELS):
        weights = classifier.weights(profile.means[i])
        assert weights.sum() == pytest.approx(1.0)
        assert weights.argmax() == i


@pytest.mark.parametrize("order", [("a", "e", "i", "o", "u"), ("o", "e", "u", "i", "a")])
def test_a_take_in_another_order_is_refused_naming_the_order_heard(order):
    with pytest.raises(CalibrationError) as caught:
        calibrate_take(synthetic_take(vowels=order), 16000)
    assert f"expected the vowels in the order a, i, u, e, o, heard {', '.join(order)}" in str(caught.value)
