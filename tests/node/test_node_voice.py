"""The node driven by a voice: `run --audio FILE.wav` alone moves the mouth with the speech,
closes it in pauses, and stops at the end of the file."""

import numpy as np
import pytest

from ezvtb_node.app.assembly import NodeError
from ezvtb_node.app.config import NodeConfig
from ezvtb_node.app.node import Node
from ezvtb_node.inputs.voice.audio import write_wav
from ezvtb_node.pose import POSE_INDEX
from tests.inputs.speech import needs_espeak, speak

MOUTH = [POSE_INDEX[f"mouth_{v}"] for v in ("aaa", "iii", "uuu", "eee", "ooo")]


def settings(tmp_path, **overrides):
    values = {
        "vmc": "off",
        "output": ["null"],
        "control": "off",
        "status": False,
        "use_interpolation": False,
        "cacher_db_path": str(tmp_path / "cache.sqlite3"),
        **overrides,
    }
    return NodeConfig.from_keys(**values)


@pytest.fixture
def speech_take(tmp_path):
    """0.8 s of silence, a spoken あー twice, 1.2 s of silence."""
    samples, rate = speak("あー", tmp_path / "a.wav")
    silence = np.zeros(int(rate * 0.8), np.float32)
    path = tmp_path / "take.wav"
    write_wav(path, np.concatenate([silence, samples, samples, silence, silence[: rate // 2]]), rate)
    return path


def recording(factory, poses):
    def make(options):
        core = factory(options)
        render = core.inference

        def inference(pose):
            poses.append(np.array(pose, np.float32).reshape(-1))
            return render(pose)

        core.inference = inference
        return core

    return make


@needs_espeak
def test_a_voice_alone_opens_the_mouth_while_speaking_and_closes_it_in_pauses(
    tmp_path, speech_take, tiny_core_factory
):
    poses = []
    node = Node(settings(tmp_path, audio=str(speech_take)), core_factory=recording(tiny_core_factory, poses))
    assert node.run() == 0  # returns by itself: the file played to its end and no other input is on
    opening = np.array([pose[MOUTH].sum() for pose in poses])
    assert len(poses) > 20
    assert opening[:3].max() < 0.05  # the silence before the speech
    assert opening.max() > 0.3  # speaking
    assert opening[-1] < 0.05  # the pause after it closed the mouth again
    assert node.snapshot()["inputs"][0]["kind"] == "VoiceSource"


def test_a_bad_audio_setting_stops_the_node_before_anything_is_built(tmp_path):
    not_wav = tmp_path / "song.mp3"
    not_wav.write_bytes(b"ID3\x03\x00\x00\x00")
    with pytest.raises(NodeError, match=r"voice input .*song\.mp3"):
        Node(settings(tmp_path, audio=str(not_wav)), core_factory=None).start()
    with pytest.raises(NodeError, match="voice input no-such-microphone-anywhere"):
        Node(settings(tmp_path, audio="no-such-microphone-anywhere"), core_factory=None).start()


def test_a_voice_profile_without_audio_is_a_settings_error(tmp_path):
    with pytest.raises(ValueError, match="--voice-profile applies to a voice input"):
        settings(tmp_path, voice_profile="me.json").validate()
