"""What one sender sent never outlives it, and datagrams are decoded truthfully: real UDP senders on
loopback (each its own socket, so its own address and port), waiting on published frames."""

from __future__ import annotations

import base64
import io
import json
import math
import socket
import struct
import threading

import pytest

from ezvtb_node.inputs import DatagramReplay, IFacialMocapReceiver, VmcReceiver
from ezvtb_node.inputs.commands import LiveTable
from ezvtb_node.inputs.vmc import MAX_BLEND_NAMES

from .conftest import wait_until
from .osc_wire import APPLY, IMMEDIATE, blend, bone, bundle, message


def f32(value: float) -> float:
    return struct.unpack(">f", struct.pack(">f", value))[0]


def yaw_quaternion(degrees: float) -> tuple[float, float, float, float]:
    half = math.radians(degrees) / 2
    return (0.0, math.sin(half), 0.0, math.cos(half))


@pytest.fixture
def vmc(sink):
    with VmcReceiver(port=0, on_frame=sink, lost_after=30.0) as receiver:
        yield receiver


@pytest.fixture
def second_udp():
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    yield sock
    sock.close()


def test_a_new_sender_starts_without_the_blend_values_and_bones_of_the_one_before(vmc, sink, udp, second_udp):
    # A perfect-sync sender quits with its eyes closed, its mouth shut and its chest turned 20°.
    udp.sendto(
        bundle(
            IMMEDIATE,
            bone("Chest", yaw_quaternion(20)),
            blend("eyeBlinkLeft", 1.0),
            blend("eyeBlinkRight", 1.0),
            blend("jawOpen", 0.0),
            APPLY,
        ),
        vmc.address,
    )
    first = sink.next()
    assert first.channels["eyeBlinkLeft"] == 1.0 and first.channels["head.yaw"] == pytest.approx(20, abs=1e-3)
    # A VRM sender on another port starts: only what it sends is on the character.
    second_udp.sendto(bundle(IMMEDIATE, bone("Head", yaw_quaternion(5)), blend("A", 0.8), APPLY), vmc.address)
    frame = sink.next()
    assert set(frame.channels) == {"vrm.A", "head.yaw", "head.pitch", "head.roll"}
    assert frame.channels["vrm.A"] == f32(0.8)
    assert frame.channels["head.yaw"] == pytest.approx(5, abs=1e-3), "no stale chest yaw added"
    assert vmc.stats()["sender_changes"] == 1


def test_a_sender_that_comes_back_after_going_lost_starts_afresh(sink, udp):
    with VmcReceiver(port=0, on_frame=sink, lost_after=0.2) as vmc:
        udp.sendto(
            bundle(IMMEDIATE, blend("eyeBlinkLeft", 1.0), bone("Head", yaw_quaternion(30)), APPLY),
            vmc.address,
        )
        assert not sink.next().lost
        assert sink.next().lost
        udp.sendto(bundle(IMMEDIATE, blend("jawOpen", 0.5), APPLY), vmc.address)
        assert sink.next().channels == {"jawOpen": 0.5}


def test_not_loaded_from_one_sender_holds_only_its_own_frames_and_is_counted(vmc, sink, udp, second_udp):
    udp.sendto(bundle(IMMEDIATE, message("/VMC/Ext/OK", 0), blend("jawOpen", 0.5), APPLY), vmc.address)
    held = sink.next()
    assert held.lost and vmc.stats()["not_loaded"] == 1
    udp.sendto(bundle(IMMEDIATE, blend("jawOpen", 0.25), APPLY), vmc.address)
    assert sink.next().lost and vmc.stats()["not_loaded"] == 2, "the same sender stays 'not loaded'"
    # Another sender that never sends /VMC/Ext/OK: its frames are live.
    second_udp.sendto(bundle(IMMEDIATE, blend("jawOpen", 0.75), APPLY), vmc.address)
    frame = sink.next()
    assert not frame.lost and frame.channels == {"jawOpen": 0.75}
    assert vmc.stats()["not_loaded"] == 2


def test_a_tracking_status_of_zero_is_counted_apart_from_not_loaded(vmc, sink, udp):
    udp.sendto(bundle(IMMEDIATE, message("/VMC/Ext/OK", 1, 3, 0, 0), APPLY), vmc.address)
    assert sink.next().lost
    stats = vmc.stats()
    assert (stats["not_tracking"], stats["not_loaded"]) == (1, 0)


def test_a_float_cut_short_is_bad_osc_not_a_zero(vmc, sink, udp):
    whole = message("/VMC/Ext/Blend/Val", "jawOpen", 0.5)
    for cut in (whole[:-2], whole[:-4]):  # part of the float, and all of it, missing
        udp.sendto(bundle(IMMEDIATE, blend("jawOpen", 0.25), APPLY), vmc.address)
        assert sink.next().channels == {"jawOpen": 0.25}
        udp.sendto(cut, vmc.address)
        udp.sendto(APPLY, vmc.address)
        assert sink.next().channels == {"jawOpen": 0.25}, "the cut value was not taken as 0"
    assert vmc.stats()["bad_osc"] == 2


def test_a_datagram_cut_inside_a_bundle_applies_none_of_its_complete_elements(vmc, sink, udp):
    udp.sendto(bundle(IMMEDIATE, blend("jawOpen", 0.25), APPLY), vmc.address)
    assert sink.next().channels == {"jawOpen": 0.25}
    whole = bundle(
        IMMEDIATE, blend("jawOpen", 0.75), bone("Head", yaw_quaternion(40)), APPLY, blend("A", 1.0)
    )
    udp.sendto(whole[:-6], vmc.address)
    udp.sendto(APPLY, vmc.address)
    assert sink.next().channels == {"jawOpen": 0.25}, "nothing of the cut datagram was applied"
    assert vmc.stats()["bad_osc"] == 1
    assert vmc.stats()["frames"] == 2


def test_a_quaternion_of_huge_doubles_is_the_rotation_it_describes(vmc, sink, udp):
    x, y, z, w = yaw_quaternion(30)
    scale = 1e200  # squaring overflows a double: a naive length is infinite and the head 0°
    huge = [("d", scale * part) for part in (x, y, z, w)]
    udp.sendto(message("/VMC/Ext/Bone/Pos", "Head", 0.0, 0.0, 0.0, *huge), vmc.address)
    assert sink.next().channels["head.yaw"] == pytest.approx(30, abs=1e-6)


def test_a_quaternion_whose_length_overflows_is_counted_and_keeps_the_last_head(vmc, sink, udp):
    udp.sendto(bone("Head", yaw_quaternion(10)), vmc.address)
    assert sink.next().channels["head.yaw"] == pytest.approx(10, abs=1e-3)
    udp.sendto(message("/VMC/Ext/Bone/Pos", "Head", 0.0, 0.0, 0.0, *[("d", 1.5e308)] * 4), vmc.address)
    udp.sendto(bundle(IMMEDIATE, blend("jawOpen", 0.5), APPLY), vmc.address)
    frame = sink.next()
    assert frame.channels["head.yaw"] == pytest.approx(10, abs=1e-3)
    assert vmc.stats()["non_finite"] == 1


def test_distinct_clip_names_are_capped_and_the_rest_counted(vmc, sink, udp):
    names = [f"junk{i}" for i in range(MAX_BLEND_NAMES + 88)]
    for start in range(0, len(names), 150):  # datagrams under the 32 KiB limit
        udp.sendto(bundle(IMMEDIATE, *(blend(name, 0.5) for name in names[start : start + 150])), vmc.address)
    udp.sendto(APPLY, vmc.address)
    frame = sink.next()
    assert len(frame.channels) == MAX_BLEND_NAMES
    assert vmc.stats()["too_many_names"] == 88
    # Names already kept still change; a new one is still refused.
    udp.sendto(bundle(IMMEDIATE, blend("junk0", 1.0), blend("jawOpen", 1.0), APPLY), vmc.address)
    frame = sink.next()
    assert frame.channels["vrm.junk0"] == 1.0 and "jawOpen" not in frame.channels
    assert vmc.stats()["too_many_names"] == 89


def test_an_empty_clip_name_is_counted(vmc, sink, udp):
    udp.sendto(bundle(IMMEDIATE, blend("", 0.5), blend("jawOpen", 0.5), APPLY), vmc.address)
    assert sink.next().channels == {"jawOpen": 0.5}
    assert vmc.stats()["empty_name"] == 1


def test_listen_shows_unknown_addresses_among_the_drops(vmc, sink, udp):
    udp.sendto(message("/VMC/Ext/Blend/Value", "jawOpen", 0.5), vmc.address)  # a sender's typo
    udp.sendto(bundle(IMMEDIATE, blend("jawOpen", 0.5), APPLY), vmc.address)
    sink.next()
    port = udp.getsockname()[1]
    assert f"drops: unknown_address=1  from 127.0.0.1:{port}" in LiveTable([vmc], io.StringIO()).render(0.0)


def test_an_osc_calibration_command_calls_its_handler_once_per_message(sink, udp):
    called = threading.Semaphore(0)
    with VmcReceiver(port=0, on_frame=sink, commands={"/ezvtb/calibrate": called.release}) as vmc:
        udp.sendto(message("/ezvtb/calibrate"), vmc.address)
        udp.sendto(bundle(IMMEDIATE, message("/ezvtb/calibrate"), blend("jawOpen", 0.5), APPLY), vmc.address)
        assert sink.next().channels == {"jawOpen": 0.5}
        assert called.acquire(timeout=0) and called.acquire(timeout=0) and not called.acquire(timeout=0)
        assert vmc.stats()["commands"] == 2 and vmc.stats()["unknown_address"] == 0


def test_a_calibration_command_from_another_program_keeps_the_performers_state(sink, udp, second_udp):
    # A Stream Deck (its own socket) asks for calibration while VSeeFace keeps sending.
    with VmcReceiver(port=0, on_frame=sink, commands={"/ezvtb/calibrate": lambda: None}) as vmc:
        udp.sendto(bundle(IMMEDIATE, blend("Blink", 0.75), blend("A", 0.5), APPLY), vmc.address)
        assert sink.next().channels == {"vrm.Blink": 0.75, "vrm.A": 0.5}
        second_udp.sendto(message("/ezvtb/calibrate"), vmc.address)
        udp.sendto(bundle(IMMEDIATE, blend("A", 0.25), APPLY), vmc.address)
        assert sink.next().channels == {"vrm.Blink": 0.75, "vrm.A": 0.25}
        assert vmc.stats()["commands"] == 1 and vmc.stats()["sender_changes"] == 0


IFM_BLENDS = "jawOpen&40|eyeBlink_L&100|"


@pytest.fixture
def ifm(sink):
    with IFacialMocapReceiver(port=0, on_frame=sink, lost_after=30.0) as receiver:
        yield receiver


def test_an_ifacialmocap_packet_with_a_bad_head_keeps_the_last_good_head(ifm, sink, udp):
    udp.sendto(f"{IFM_BLENDS}=head#-10.5,20.25,3,0.1,0.2,0.3|rightEye#4,-5,0|".encode(), ifm.address)
    good = sink.next()
    udp.sendto(b"jawOpen&80|=head#-1,2,oops,0,0,0|rightEye#1,2,0|", ifm.address)
    frame = sink.next()
    head = ("head.pitch", "head.yaw", "head.roll", "head.x", "head.y", "head.z")
    assert {name: frame.channels[name] for name in head} == {name: good.channels[name] for name in head}
    assert frame.channels["jawOpen"] == 0.8 and frame.channels["eye.right.yaw"] == 2.0
    assert ifm.stats()["bad_item"] == 1
    udp.sendto(b"jawOpen&80|=head#nan,2,3,0,0,0|", ifm.address)
    assert sink.next().channels["head.yaw"] == 20.25
    assert ifm.stats()["non_finite"] == 1


def test_a_new_ifacialmocap_sender_does_not_get_the_last_head_of_the_one_before(ifm, sink, udp, second_udp):
    udp.sendto(f"{IFM_BLENDS}=head#-10.5,20.25,3,0.1,0.2,0.3|".encode(), ifm.address)
    sink.next()
    second_udp.sendto(b"jawOpen&80|=head#-1,2|", ifm.address)
    frame = sink.next()
    assert not any(name.startswith("head.") for name in frame.channels)
    assert wait_until(lambda: ifm.stats()["sender_changes"] == 1)


def test_a_sender_held_by_not_loaded_that_falls_silent_is_forgotten(sink, udp):
    with VmcReceiver(port=0, on_frame=sink, lost_after=0.2) as vmc:
        udp.sendto(bundle(IMMEDIATE, message("/VMC/Ext/OK", 0), blend("jawOpen", 0.5), APPLY), vmc.address)
        assert sink.next().lost
        assert wait_until(lambda: vmc.sender is None), "silence for lost_after forgets the sender"
        udp.sendto(bundle(IMMEDIATE, blend("jawOpen", 0.25), APPLY), vmc.address)  # no OK this time
        frame = sink.next()
        assert not frame.lost and frame.channels == {"jawOpen": 0.25}


def test_a_datagram_with_a_bundle_nested_too_deep_applies_none_of_its_messages(vmc, sink, udp):
    too_deep = blend("A", 1.0)
    for _ in range(9):
        too_deep = bundle(IMMEDIATE, too_deep)
    udp.sendto(bundle(IMMEDIATE, blend("jawOpen", 0.75), too_deep, APPLY), vmc.address)
    udp.sendto(bundle(IMMEDIATE, blend("eyeBlinkLeft", 1.0), APPLY), vmc.address)
    assert sink.next().channels == {"eyeBlinkLeft": 1.0}
    assert vmc.stats()["bundle_too_deep"] == 1


def test_a_capture_replay_forgets_the_sender_where_the_recording_pauses(tmp_path, sink):
    capture = tmp_path / "capture.jsonl"
    records = [
        (0.0, bundle(IMMEDIATE, blend("eyeBlinkLeft", 1.0), APPLY)),
        (2.0, bundle(IMMEDIATE, blend("jawOpen", 0.5), APPLY)),  # after a pause longer than lost_after
    ]
    capture.write_text(
        "".join(
            json.dumps({"t": t, "source": "vmc", "datagram": base64.b64encode(data).decode()}) + "\n"
            for t, data in records
        )
    )
    with DatagramReplay(capture, speed=math.inf, lost_after=0.5, on_frame=sink) as replay:
        assert replay.wait_done(30)
    frames = sink.drain()
    assert [(frame.lost, frame.channels) for frame in frames[:3]] == [
        (False, {"eyeBlinkLeft": 1.0}),
        (True, {"eyeBlinkLeft": 1.0}),
        (False, {"jawOpen": 0.5}),
    ]
