"""The `max` operator and the voice channels in the bundled mappings."""

import numpy as np
import pytest

from ezvtb_node.channels import VOICE_CHANNELS
from ezvtb_node.mapping.mapper import Mapper
from ezvtb_node.mapping.mapping import load_mapping
from ezvtb_node.mapping.schema import MappingError
from ezvtb_node.pose import POSE_INDEX

from .conftest import MAPPINGS
from .reference import random_arkit_frames

TRACKER_FILES = ["ifacialmocap.toml", "vmc_perfect_sync.toml", "vmc_vrm.toml"]
MOUTHS = ["mouth_aaa", "mouth_iii", "mouth_uuu", "mouth_eee", "mouth_ooo"]


def voice(level: float, vowel: str) -> dict[str, float]:
    channels = dict.fromkeys(VOICE_CHANNELS, 0.0)
    channels["voice.level"] = level
    channels[f"voice.{vowel}"] = 1.0
    return channels


def test_max_keeps_the_largest_weighted_term(write_mapping):
    mapping = load_mapping(
        write_mapping(
            "[pose]\nmouth_aaa = { max = { jawOpen = 2.0, mouthFunnel = -1.0, mouthPucker = 0.5 } }\n"
        )
    )
    at = POSE_INDEX["mouth_aaa"]
    assert mapping.evaluate({"jawOpen": 0.2, "mouthPucker": 0.6})[at] == pytest.approx(0.4)
    assert mapping.evaluate({"jawOpen": 0.1, "mouthPucker": 0.8})[at] == pytest.approx(0.4)
    # Every term negative: the largest of them (then clipped into the parameter's range).
    assert mapping.evaluate({"mouthFunnel": 0.5})[at] == 0.0


def test_max_is_followed_by_the_usual_operations_and_mirrors(write_mapping):
    mapping = load_mapping(
        write_mapping(
            "[pose]\n"
            "eye_wink_left = { max = { eyeBlinkLeft = 1.0, eyeSquintLeft = 1.0 }, ramp = [0.2, 0.6] }\n"
            'eye_wink_right = { mirror = "eye_wink_left" }\n'
        )
    )
    pose = mapping.evaluate({"eyeBlinkLeft": 0.1, "eyeSquintLeft": 0.4, "eyeBlinkRight": 0.5})
    assert pose[POSE_INDEX["eye_wink_left"]] == pytest.approx(0.5)
    assert pose[POSE_INDEX["eye_wink_right"]] == pytest.approx(0.75)


def test_max_with_sum_is_an_error_naming_both(write_mapping):
    path = write_mapping("[pose]\nmouth_aaa = { sum = { jawOpen = 1.0 }, max = { jawOpen = 1.0 } }\n")
    with pytest.raises(MappingError, match="give one of 'from', 'sum', 'max' or 'const', got sum and max"):
        load_mapping(path)
    with pytest.raises(MappingError, match="expected at least one 'name = weight' entry"):
        load_mapping(write_mapping("[pose]\nmouth_aaa = { max = {} }\n", "empty.toml"))


def test_voice_channels_are_known_to_mapping_files(write_mapping):
    mapping = load_mapping(write_mapping('[pose]\nmouth_ooo = { from = "voice.o", gate = "voice.level" }\n'))
    assert mapping.channels == ("voice.level", "voice.o")
    with pytest.raises(MappingError, match=r"did you mean 'voice\.level'"):
        load_mapping(write_mapping('[pose]\nmouth_ooo = { from = "voice.levle" }\n', "typo.toml"))


@pytest.mark.parametrize("file", TRACKER_FILES)
def test_tracker_mappings_ignore_a_silent_or_absent_voice(file):
    mapping = load_mapping(MAPPINGS / file)
    silent = dict.fromkeys(VOICE_CHANNELS, 0.0)
    frames = random_arkit_frames(200, seed=21)
    for frame in frames:
        frame.update({"vrm.A": frame["jawOpen"], "vrm.O": frame["mouthFunnel"]})
        assert np.array_equal(mapping.evaluate(frame), mapping.evaluate({**frame, **silent}))


@pytest.mark.parametrize("file", TRACKER_FILES)
@pytest.mark.parametrize("vowel", ["a", "i", "u", "e", "o"])
def test_the_voice_opens_each_mouth_shape_when_it_is_wider_than_the_tracker(file, vowel):
    mapping = load_mapping(MAPPINGS / file)
    shape = MOUTHS["aiueo".index(vowel)]
    pose = mapping.evaluate(voice(0.7, vowel))
    assert pose[POSE_INDEX[shape]] == pytest.approx(0.7)
    others = [POSE_INDEX[m] for m in MOUTHS if m != shape]
    assert not pose[others].any()


@pytest.mark.parametrize("file", TRACKER_FILES)
def test_a_wider_tracked_mouth_wins_over_a_quiet_voice(file):
    mapping = load_mapping(MAPPINGS / file)
    tracked = {"jawOpen": 0.4, "mouthLowerDownLeft": 0.5, "mouthLowerDownRight": 0.5, "vrm.A": 1.0}
    alone = mapping.evaluate(tracked)[POSE_INDEX["mouth_aaa"]]
    assert alone > 0.5
    assert mapping.evaluate({**tracked, **voice(0.3, "a")})[POSE_INDEX["mouth_aaa"]] == pytest.approx(alone)
    assert mapping.evaluate({**tracked, **voice(1.0, "a")})[POSE_INDEX["mouth_aaa"]] == pytest.approx(1.0)


@pytest.mark.parametrize("file", ["ifacialmocap.toml", "vmc_perfect_sync.toml"])
def test_a_frown_shows_only_while_neither_tracker_nor_voice_opens_the_mouth(file):
    mapping = load_mapping(MAPPINGS / file)
    frown = {"mouthFrownLeft": 0.6}
    corner = POSE_INDEX["mouth_lowered_corner_left"]
    assert mapping.evaluate(frown)[corner] == pytest.approx(1.0)
    assert mapping.evaluate({**frown, **voice(0.5, "o")})[corner] == 0.0
    assert mapping.evaluate({**frown, **voice(0.0, "o")})[corner] == pytest.approx(1.0)


def test_the_voice_only_mapping_moves_the_mouth_and_comes_alive_in_silence():
    mapper = Mapper(MAPPINGS / "voice.toml", filters=False)
    fps = 100
    silent = voice(0.0, "a")
    poses = np.array([mapper.update(silent, i / fps)[0] for i in range(20 * fps)])
    assert not poses[:, [POSE_INDEX[m] for m in MOUTHS]].any()  # pauses keep the mouth closed
    winks = poses[:, POSE_INDEX["eye_wink_left"]]
    assert winks.max() > 0.5 and (winks > 0.5).mean() < 0.1  # it blinks, briefly, on its own
    breathing = poses[:, POSE_INDEX["breathing"]]
    assert breathing.min() < 0.1 and breathing.max() > 0.9
    speaking = mapper.update(voice(0.8, "i"), 20.0)[0]
    assert speaking[POSE_INDEX["mouth_iii"]] == pytest.approx(0.8, abs=0.01)
    assert speaking[POSE_INDEX["head_x"]] < 0.0  # the slight nod
