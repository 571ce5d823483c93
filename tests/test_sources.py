"""One list of source names (ezvtb_node.sources): every source the node builds names its frames
from it, raw captures decode with it, and the mapping choice and the render merge read it."""

from __future__ import annotations

import numpy as np

from ezvtb_node.app.render import merge_frames
from ezvtb_node.inputs import TrackingFrame
from ezvtb_node.inputs.replay import DECODERS
from ezvtb_node.inputs.settings import SourceSettings, make_tracking_sources, receiver_ports
from ezvtb_node.inputs.voice.audio import write_wav
from ezvtb_node.mapping.bundled import choose_mapping
from ezvtb_node.sources import PHONE_SOURCES, RECEIVER_SOURCES, SOURCE_NAMES, VMC, VOICE


def test_every_source_the_factory_builds_is_named_from_the_list(tmp_path):
    wav = tmp_path / "quiet.wav"
    write_wav(wav, np.zeros(1600), 16000)
    settings = SourceSettings(
        vmc="127.0.0.1:0", ifacialmocap="127.0.0.1:0", facemotion3d="127.0.0.1:0", audio=str(wav)
    )
    sources = make_tracking_sources(settings, realtime_audio=False)
    assert [source.name for source in sources] == list(SOURCE_NAMES)


def test_receiver_ports_name_one_port_per_receiver_in_the_list():
    settings = SourceSettings(vmc="on", ifacialmocap="on", facemotion3d="on")
    assert [kind for kind, _ in settings.receivers()] == list(RECEIVER_SOURCES)
    assert len({use.port for use in receiver_ports(settings)}) == len(RECEIVER_SOURCES)


def test_a_raw_capture_decodes_each_receiver_with_a_decoder_of_the_same_name():
    assert set(DECODERS) == set(RECEIVER_SOURCES)
    assert {name: DECODERS[name]().source for name in DECODERS} == {name: name for name in DECODERS}


def test_phone_sources_use_the_ifacialmocap_choice_and_the_voice_its_own():
    for source in PHONE_SOURCES:
        assert choose_mapping(source, (), "vmc_vrm", "phone.toml", "voice.toml") == "phone.toml"
    assert choose_mapping(VOICE, (), "vmc_vrm", "phone.toml", "voice.toml") == "voice.toml"
    assert choose_mapping(VMC, (), "vmc_vrm", "phone.toml", "voice.toml") == "vmc_vrm"


def test_the_voice_adds_its_channels_to_a_tracked_face_instead_of_replacing_it():
    face = TrackingFrame(VMC, {"jawOpen": 0.1, "head.yaw": 5.0}, 1.0, 1.0)
    voice = TrackingFrame(VOICE, {"voice.a": 0.8}, 1.1, 1.1)
    merged = merge_frames({VMC: (1, face), VOICE: (2, voice)})
    assert merged is not None
    assert merged.source == VMC
    assert merged.channels["head.yaw"] == 5.0 and merged.channels["voice.a"] == 0.8
