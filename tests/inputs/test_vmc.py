"""VMC receiver over real UDP sockets, datagrams built by the tests' own OSC encoder and python-osc."""

from __future__ import annotations

import math
import socket
import struct
import threading
import time

import pytest
from pythonosc.osc_bundle_builder import IMMEDIATELY, OscBundleBuilder
from pythonosc.osc_message_builder import OscMessageBuilder

from ezvtb_node.inputs import VmcReceiver
from ezvtb_node.inputs.vmc import VmcDecoder

from .conftest import wait_until
from .osc_wire import APPLY, IMMEDIATE, blend, bone, bundle, message, timetag


def f32(value: float) -> float:
    return struct.unpack(">f", struct.pack(">f", value))[0]


def axis_quaternion(axis: str, degrees: float) -> tuple[float, float, float, float]:
    half = math.radians(degrees) / 2
    xyz = {"x": (1, 0, 0), "y": (0, 1, 0), "z": (0, 0, 1)}[axis]
    return (xyz[0] * math.sin(half), xyz[1] * math.sin(half), xyz[2] * math.sin(half), math.cos(half))


@pytest.fixture
def vmc(sink):
    with VmcReceiver(port=0, on_frame=sink, lost_after=5.0) as receiver:
        yield receiver


def test_blend_values_spread_over_datagrams_publish_together_at_apply(vmc, sink, udp):
    first = bundle(IMMEDIATE, blend("JawOpen", 0.25), blend("A", 0.75))
    assert published_after(vmc, sink, udp, first) == [], "nothing may be published before the Apply"
    assert published_after(vmc, sink, udp, bundle(IMMEDIATE, blend("eyeBlinkLeft", 1.0))) == []
    udp.sendto(APPLY, vmc.address)
    frame = sink.next()
    assert frame.source == "vmc" and not frame.lost
    assert frame.channels == {"jawOpen": 0.25, "vrm.A": 0.75, "eyeBlinkLeft": 1.0}
    # A later frame changes only what the sender sends again; the rest keeps its last value.
    udp.sendto(bundle(IMMEDIATE, blend("JawOpen", 0.5), APPLY), vmc.address)
    assert sink.next().channels == {"jawOpen": 0.5, "vrm.A": 0.75, "eyeBlinkLeft": 1.0}


def test_nested_bundles_from_two_independent_encoders_give_the_same_frame(vmc, sink, udp):
    ours = bundle(
        IMMEDIATE,
        bundle(IMMEDIATE, blend("MouthSmileLeft", 0.3), bundle(IMMEDIATE, blend("Joy", 0.6))),
        bone("Head", axis_quaternion("y", 20)),
        APPLY,
    )
    udp.sendto(ours, vmc.address)
    first = sink.next()

    def osc_message(address, *args):
        builder = OscMessageBuilder(address)
        for arg in args:
            builder.add_arg(arg)
        return builder.build()

    inner = OscBundleBuilder(IMMEDIATELY)
    inner.add_content(osc_message("/VMC/Ext/Blend/Val", "Joy", 0.6))
    middle = OscBundleBuilder(IMMEDIATELY)
    middle.add_content(osc_message("/VMC/Ext/Blend/Val", "MouthSmileLeft", 0.3))
    middle.add_content(inner.build())
    outer = OscBundleBuilder(IMMEDIATELY)
    outer.add_content(middle.build())
    outer.add_content(osc_message("/VMC/Ext/Bone/Pos", "Head", 0.0, 0.0, 0.0, *axis_quaternion("y", 20)))
    outer.add_content(osc_message("/VMC/Ext/Blend/Apply"))
    assert outer.build().dgram == ours, "both encoders must produce the same bytes"
    udp.sendto(outer.build().dgram, vmc.address)
    second = sink.next()
    assert first.channels == second.channels
    assert first.channels["mouthSmileLeft"] == f32(0.3) and first.channels["vrm.Joy"] == f32(0.6)
    assert first.channels["head.yaw"] == pytest.approx(20, abs=1e-4)


@pytest.mark.parametrize(
    "skew_s", [3600.0, 86400.0 * 365 * 50, -86400.0 * 365 * 60], ids=["1h-ahead", "50y-ahead", "60y-behind"]
)
def test_skewed_bundle_timetags_neither_delay_nor_reorder(vmc, sink, udp, skew_s):
    tag = timetag(time.time() + skew_s)
    udp.sendto(bundle(tag, blend("jawOpen", 0.5), bundle(tag + 10**9, APPLY)), vmc.address)
    # Waiting for a tag would take an hour or more; sink.next gives up after seconds, so a frame
    # here proves the receiver did not wait (no bound on how fast a loaded machine must be).
    frame = sink.next()
    assert frame.channels == {"jawOpen": 0.5}
    # A nested bundle with an earlier tag than its parent is still applied in datagram order.
    udp.sendto(bundle(tag, blend("jawOpen", 0.1), bundle(tag - 10**12, APPLY)), vmc.address)
    assert sink.next().channels == {"jawOpen": f32(0.1)}


def test_blend_names_are_normalised(vmc, sink, udp):
    names = {
        "EyeBlinkLeft": "eyeBlinkLeft",  # perfect sync, PascalCase
        "jawopen": "jawOpen",  # any case
        "MOUTHFUNNEL": "mouthFunnel",
        "Blink_R": "vrm.Blink_R",  # VRM 0.x preset
        "fun": "vrm.Fun",
        "aa": "vrm.A",  # VRM 1.0 names → VRM 0.x preset
        "blinkLeft": "vrm.Blink_L",
        "happy": "vrm.Joy",
        "sad": "vrm.Sorrow",
        "relaxed": "vrm.Fun",
        "MyCustomClip": "vrm.MyCustomClip",  # custom clips keep their spelling
    }
    elements = [blend(name, 0.5) for name in names]
    udp.sendto(bundle(IMMEDIATE, *elements, APPLY), vmc.address)
    channels = sink.next().channels
    assert set(channels) == set(names.values())


def test_head_angles_compose_the_spine_chain_and_eyes_use_their_own_rotation(vmc, sink, udp):
    udp.sendto(
        bundle(
            IMMEDIATE,
            bone("Hips", axis_quaternion("y", 90)),  # not part of the head chain
            bone("Spine", axis_quaternion("x", 5)),
            bone("Neck", axis_quaternion("y", 10)),
            bone("Head", axis_quaternion("y", 20)),
            bone("LeftEye", axis_quaternion("y", -8)),
            bone("RightEye", axis_quaternion("x", 6)),
            APPLY,
        ),
        vmc.address,
    )
    channels = sink.next().channels
    # Spine pitch 5°, then neck and head turn 10° + 20° about the pitched local Y axis: R = Rx(5)·Ry(30).
    # The face direction R·(0,0,1) = (sin30, -sin5·cos30, cos5·cos30) gives yaw and pitch; R[1][0] and
    # R[1][1] (sin5·sin30, cos5) give the roll that this order of turns produces.
    p, y = math.radians(5), math.radians(30)
    assert channels["head.yaw"] == pytest.approx(
        math.degrees(math.atan2(math.sin(y), math.cos(p) * math.cos(y)))
    )
    assert channels["head.pitch"] == pytest.approx(math.degrees(math.asin(math.sin(p) * math.cos(y))))
    assert channels["head.roll"] == pytest.approx(
        math.degrees(math.atan2(math.sin(p) * math.sin(y), math.cos(p)))
    )
    assert channels["eye.left.yaw"] == pytest.approx(-8, abs=1e-3)
    assert channels["eye.left.pitch"] == pytest.approx(0, abs=1e-3)
    assert channels["eye.right.pitch"] == pytest.approx(6, abs=1e-3)
    # Bones arrive in one datagram, the blend apply in the next: the bones are published with their
    # own datagram, and the Apply's frame carries both.
    identity = (0.0, 0.0, 0.0, 1.0)
    bones = bundle(
        IMMEDIATE, bone("Spine", identity), bone("Neck", identity), bone("Head", axis_quaternion("z", 15))
    )
    udp.sendto(bones, vmc.address)
    channels = sink.next().channels
    assert channels["head.roll"] == pytest.approx(15, abs=1e-3) and "vrm.A" not in channels
    udp.sendto(bundle(IMMEDIATE, blend("A", 1.0), APPLY), vmc.address)
    channels = sink.next().channels
    assert channels["head.roll"] == pytest.approx(15, abs=1e-3) and channels["vrm.A"] == 1.0


def published_after(vmc, sink, udp, datagram: bytes) -> list:
    """Send ``datagram`` and return every frame it published, no more, no fewer.

    A marker datagram follows it from the same socket; once the receiver has counted the marker,
    the datagram before it has been decoded and all its frames handed to ``sink`` (one receive
    thread, datagrams in order): no waiting for a quiet period, no timing luck.
    """
    markers = vmc.stats()["unknown_address"]
    udp.sendto(datagram, vmc.address)
    udp.sendto(message("/VMC/Ext/Test/Marker"), vmc.address)
    assert wait_until(lambda: vmc.stats()["unknown_address"] > markers)
    return sink.drain()


HEAD_20 = bone("Head", axis_quaternion("y", 20))


def test_a_bone_after_the_last_apply_is_published_with_its_datagram(vmc, sink, udp):
    # Val, Apply, then the head: the Apply publishes the values, the datagram's end the head.
    frames = published_after(vmc, sink, udp, bundle(IMMEDIATE, blend("JawOpen", 0.5), APPLY, HEAD_20))
    assert [f.channels.get("head.yaw") for f in frames] == [None, pytest.approx(20, abs=1e-4)]
    assert frames[-1].channels["jawOpen"] == 0.5 and vmc.latest() is frames[-1]
    # A datagram that changes nothing after its Apply publishes once, at the Apply.
    frames = published_after(vmc, sink, udp, bundle(IMMEDIATE, blend("JawOpen", 0.25), APPLY))
    assert [f.channels for f in frames] == [{"jawOpen": 0.25, "head.yaw": pytest.approx(20, abs=1e-4),
                                             "head.pitch": pytest.approx(0, abs=1e-4),
                                             "head.roll": pytest.approx(0, abs=1e-4)}]  # fmt: skip


def test_a_bone_before_the_apply_is_published_once_with_the_values(vmc, sink, udp):
    frames = published_after(vmc, sink, udp, bundle(IMMEDIATE, HEAD_20, blend("JawOpen", 0.5), APPLY))
    assert len(frames) == 1
    assert frames[0].channels["jawOpen"] == 0.5
    assert frames[0].channels["head.yaw"] == pytest.approx(20, abs=1e-4)


def test_blend_values_after_the_last_apply_still_wait_for_their_own_apply(vmc, sink, udp):
    first = bundle(IMMEDIATE, blend("JawOpen", 0.5), APPLY, blend("Joy", 0.9))
    assert [f.channels for f in published_after(vmc, sink, udp, first)] == [{"jawOpen": 0.5}]
    # The next datagram moves the head: published at once, Joy still waits.
    (frame,) = published_after(vmc, sink, udp, bundle(IMMEDIATE, HEAD_20))
    assert "vrm.Joy" not in frame.channels and frame.channels["head.yaw"] == pytest.approx(20, abs=1e-4)
    (frame,) = published_after(vmc, sink, udp, APPLY)
    assert frame.channels["vrm.Joy"] == f32(0.9) and frame.channels["jawOpen"] == 0.5


def test_a_status_change_after_the_apply_is_published_with_its_datagram(vmc, sink, udp):
    face_lost = message("/VMC/Ext/OK", 1, 3, 0, 0)
    frames = published_after(vmc, sink, udp, bundle(IMMEDIATE, blend("JawOpen", 0.5), APPLY, face_lost))
    assert [f.lost for f in frames] == [False, True]
    # The same status again is no change: one frame, at the Apply.
    frames = published_after(vmc, sink, udp, bundle(IMMEDIATE, APPLY, face_lost))
    assert [f.lost for f in frames] == [True]


def decode(decoder: VmcDecoder, *datagrams: bytes) -> list[list[dict]]:
    """Channels of the frames each datagram publishes, straight through the decoder (no sockets)."""
    return [[frame.channels for frame in decoder.feed(d, float(i))] for i, d in enumerate(datagrams)]


def test_the_decoder_publishes_what_came_after_the_last_apply_in_either_order():
    yaw = pytest.approx(20, abs=1e-4)
    tilt = {"head.pitch": pytest.approx(0, abs=1e-4), "head.roll": pytest.approx(0, abs=1e-4)}
    after = decode(VmcDecoder(), bundle(IMMEDIATE, blend("JawOpen", 0.5), APPLY, HEAD_20))
    assert after == [[{"jawOpen": 0.5}, {"jawOpen": 0.5, "head.yaw": yaw, **tilt}]]
    before = decode(VmcDecoder(), bundle(IMMEDIATE, HEAD_20, blend("JawOpen", 0.5), APPLY))
    assert before == [[{"jawOpen": 0.5, "head.yaw": yaw, **tilt}]]
    # Apply in the middle of nested bundles, the head in the outer one after it.
    nested = bundle(IMMEDIATE, bundle(IMMEDIATE, blend("JawOpen", 0.5), bundle(IMMEDIATE, APPLY)), HEAD_20)
    assert decode(VmcDecoder(), nested) == after


def test_the_decoder_keeps_blend_values_split_over_datagrams_for_their_apply():
    frames = decode(
        VmcDecoder(),
        bundle(IMMEDIATE, blend("JawOpen", 0.5), APPLY, blend("Joy", 0.9)),  # Joy: for the next Apply
        bundle(IMMEDIATE, blend("A", 0.25)),  # values only: nothing to publish yet
        bundle(IMMEDIATE, HEAD_20),  # the head is published, the values still wait
        APPLY,
    )
    assert [len(published) for published in frames] == [1, 0, 1, 1]
    assert frames[0][0] == {"jawOpen": 0.5}
    assert "vrm.Joy" not in frames[2][0] and "vrm.A" not in frames[2][0]
    assert frames[2][0]["head.yaw"] == pytest.approx(20, abs=1e-4)
    assert frames[3][0]["vrm.Joy"] == f32(0.9) and frames[3][0]["vrm.A"] == 0.25


def test_a_sender_without_blend_apply_still_gets_frames_from_bones(vmc, sink, udp):
    udp.sendto(bundle(IMMEDIATE, bone("Head", axis_quaternion("x", -12))), vmc.address)
    assert sink.next().channels["head.pitch"] == pytest.approx(-12, abs=1e-3)


def test_root_status_and_time_messages(vmc, sink, udp):
    root7 = [0.1, 0.2, 0.3, 0.0, 0.0, 0.0, 1.0]
    udp.sendto(
        bundle(
            IMMEDIATE,
            message("/VMC/Ext/Root/Pos", "root", *root7),
            message("/VMC/Ext/Root/Pos", "root", *root7, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0),  # v2.1: 14 args
            message("/VMC/Ext/OK", 1),
            message("/VMC/Ext/OK", 1, 3, 0),
            message("/VMC/Ext/T", 12.5),
            APPLY,
        ),
        vmc.address,
    )
    frame = sink.next()
    assert frame.t == 12.5 and not frame.lost
    assert vmc.decoder.root == pytest.approx(tuple(root7))
    stats = vmc.stats()
    assert stats["too_few_args"] == stats["wrong_type"] == stats["bad_osc"] == 0
    # Tracking status 0 ("face lost" in the sender) marks frames lost.
    udp.sendto(bundle(IMMEDIATE, message("/VMC/Ext/OK", 1, 3, 0, 0), APPLY), vmc.address)
    assert sink.next().lost
    udp.sendto(bundle(IMMEDIATE, message("/VMC/Ext/OK", 1, 3, 0, 1), APPLY), vmc.address)
    assert not sink.next().lost


def test_bad_messages_are_counted_ignored_and_the_next_good_one_works(vmc, sink, udp):
    bad = [
        message("/VMC/Ext/Blend/Val", "jawOpen"),  # too few args
        message("/VMC/Ext/Blend/Val", 3, 0.5),  # name not a string
        message("/VMC/Ext/Blend/Val", "jawOpen", "half"),  # value not a number
        message("/VMC/Ext/Blend/Val", "jawOpen", float("nan")),
        message("/VMC/Ext/Bone/Pos", "Head", 0.0, 0.0, 0.0, 0.0, 0.0, float("inf"), 1.0),
        message("/VMC/Ext/Bone/Pos", "Head", 0.0, 0.0),  # too few
        message("/VMC/Ext/Bone/Pos", "Head", 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0),  # zero quaternion
        message("/VMC/Ext/Root/Pos", "root", 1.0),
        message("/VMC/Ext/OK"),
        message("/VMC/Ext/T", "soon"),
        message("/VMC/Ext/Blend/Val", "jawOpen", ("x", 0)),  # unknown type tag
        b"/VMC/Ext/Blend/Val\x00\x00,sf\x00jawO",  # truncated
        b"#bundle\x00" + b"\x00" * 8 + struct.pack(">i", 400) + b"/VMC",  # element size beyond the end
        b"/VMC/Ext/Blend/Val\x00\x00,sf\x00\xff\xfe\x00\x00\x00\x00\x00\x00",  # non-UTF-8 string
    ]
    for datagram in bad:
        udp.sendto(datagram, vmc.address)
    udp.sendto(message("/VMC/Ext/Unknown/Thing", 1, 2, 3), vmc.address)
    udp.sendto(message("/VMC/Ext/Blend/Val", "jawOpen", 0.75, "extra", 9), vmc.address)  # extra args: fine
    udp.sendto(APPLY, vmc.address)
    assert sink.next().channels == {"jawOpen": 0.75}
    stats = vmc.stats()
    assert stats["too_few_args"] == 4
    assert stats["wrong_type"] == 4
    assert stats["non_finite"] == 2
    assert stats["zero_quaternion"] == 1
    assert stats["bad_osc"] == 2
    assert stats["bad_utf8"] == 1
    assert stats["unknown_address"] == 1
    assert stats["internal_errors"] == 0 and stats["datagrams"] == len(bad) + 3


def test_no_packets_for_lost_after_seconds_marks_the_frame_lost(sink, udp):
    with VmcReceiver(port=0, on_frame=sink, lost_after=0.2) as vmc:
        udp.sendto(bundle(IMMEDIATE, blend("jawOpen", 0.5), APPLY), vmc.address)
        live = sink.next()
        lost = sink.next()
        assert lost.lost and lost.channels == live.channels
        assert lost.received_at - live.received_at >= 0.2  # never early; how late depends on the load
        assert vmc.latest() is lost and sink.none_within(0.3), "lost is published once"
        udp.sendto(APPLY, vmc.address)
        assert not sink.next().lost


def test_stop_ends_the_thread_and_releases_the_port(sink):
    before = set(threading.enumerate())
    receiver = VmcReceiver(port=0, on_frame=sink)
    receiver.start()
    (thread,) = set(threading.enumerate()) - before
    host, port = receiver.address
    receiver.stop()  # waits up to 2 s for the thread: it must have ended, not timed out
    assert not thread.is_alive() and not receiver.running
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as again:
        again.bind((host, port))


def test_port_in_use_names_the_port_and_the_usual_culprits():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as holder:
        holder.bind(("127.0.0.1", 0))
        port = holder.getsockname()[1]
        with pytest.raises(RuntimeError) as error:
            VmcReceiver(port=port).start()
    message_text = str(error.value)
    assert f"UDP port {port}" in message_text
    assert "VSeeFace" in message_text and "VBridger" in message_text and "ezvtb-node" in message_text


def test_bad_host_and_port_are_clear_errors():
    with pytest.raises(ValueError, match="UDP port must be an integer 0-65535, got 70000"):
        VmcReceiver(port=70000)
    with pytest.raises(RuntimeError, match="not an address of this machine"):
        VmcReceiver(host="192.0.2.1", port=0).start()


def test_latest_slot_holds_the_newest_frame(vmc, sink, udp):
    for value in (0.1, 0.2, 0.3):
        udp.sendto(bundle(IMMEDIATE, blend("jawOpen", value), APPLY), vmc.address)
    assert wait_until(lambda: vmc.stats()["frames"] == 3)
    assert vmc.latest().channels["jawOpen"] == f32(0.3)


def test_a_live_receiver_never_plays_to_an_end():
    with VmcReceiver(port=0) as receiver:
        assert receiver.running and receiver.wait_done(0) is False
