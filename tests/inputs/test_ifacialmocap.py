"""iFacialMocap receiver over real UDP: v1/v2 formats, allow-list, active-mode handshake."""

from __future__ import annotations

import socket
import threading

import pytest

from ezvtb_node.channels import ARKIT_BLENDSHAPES
from ezvtb_node.inputs import IFacialMocapReceiver
from ezvtb_node.inputs.ifacialmocap import FACEMOTION3D_START_STRING, START_STRING

from .conftest import PATIENCE_S, wait_until

POSE_PART = "=head#-10.5,20.25,3,0.01,-0.02,0.5|rightEye#4,-5,0|leftEye#6,7,0|"


def packet(separator: str, values: dict[str, int]) -> bytes:
    blends = "|".join(f"{name}{separator}{value}" for name, value in values.items())
    return (blends + "|" + POSE_PART).encode()


@pytest.fixture
def ifm(sink):
    with IFacialMocapReceiver(port=0, on_frame=sink, lost_after=5.0) as receiver:
        yield receiver


@pytest.mark.parametrize("separator", ["-", "&"], ids=["v1", "v2"])
def test_v1_and_v2_packets(ifm, sink, udp, separator):
    udp.sendto(packet(separator, {"eyeBlink_L": 100, "mouthSmile_R": 35, "jawOpen": 7}), ifm.address)
    frame = sink.next()
    assert frame.source == "ifacialmocap" and not frame.lost
    channels = dict(frame.channels)
    assert set(ARKIT_BLENDSHAPES) <= set(channels), "every ARKit channel is present"
    assert channels.pop("eyeBlinkLeft") == 1.0
    assert channels.pop("mouthSmileRight") == 0.35
    assert channels.pop("jawOpen") == 0.07
    pose = {name: channels.pop(name) for name in list(channels) if "." in name}
    assert pose == {
        "head.pitch": -10.5,
        "head.yaw": 20.25,
        "head.roll": 3.0,
        "head.x": 0.01,
        "head.y": -0.02,
        "head.z": 0.5,
        "eye.right.pitch": 4.0,
        "eye.right.yaw": -5.0,
        "eye.left.pitch": 6.0,
        "eye.left.yaw": 7.0,
    }
    assert set(channels.values()) == {0.0}, "names the phone did not send are 0"


def test_format_is_detected_per_packet(ifm, sink, udp):
    udp.sendto(b"jawOpen-50|", ifm.address)
    udp.sendto(b"jawOpen&25|", ifm.address)
    udp.sendto(b"jawOpen-75|", ifm.address)
    assert [sink.next().channels["jawOpen"] for _ in range(3)] == [0.5, 0.25, 0.75]


def test_bad_items_are_counted_and_good_ones_in_the_same_packet_kept(ifm, sink, udp):
    udp.sendto(b"jawOpen&150|eyeBlink_R&abc|cheekPuff&nan|bogusName&10|mouthClose&20|=head#1,2|", ifm.address)
    frame = sink.next()
    assert frame.channels["jawOpen"] == 1.0  # clamped
    assert frame.channels["mouthClose"] == 0.2
    assert frame.channels["eyeBlinkRight"] == 0.0 and frame.channels["cheekPuff"] == 0.0
    assert "head.pitch" not in frame.channels
    for datagram in (b"\xff\xfe\x00garbage", b"|||", b"no separator here", b"x" * 9000):
        udp.sendto(datagram, ifm.address)
    udp.sendto(b"jawOpen&40|", ifm.address)
    assert sink.next().channels["jawOpen"] == 0.4
    stats = ifm.stats()
    expected = {"out_of_range": 1, "bad_item": 3, "non_finite": 1, "unknown_name": 1, "bad_utf8": 1}
    assert {key: stats[key] for key in expected} == expected
    assert stats["empty"] == 2 and stats["oversized"] == 1 and stats["internal_errors"] == 0


def test_allow_list_drops_other_senders(sink):
    with (
        IFacialMocapReceiver(port=0, allow_from=["127.0.0.2"], on_frame=sink) as ifm,
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as stranger,
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as phone,
    ):
        stranger.bind(("127.0.0.1", 0))
        phone.bind(("127.0.0.2", 0))
        stranger.sendto(b"jawOpen&10|", ifm.address)
        assert sink.none_within(0.15)
        phone.sendto(b"jawOpen&20|", ifm.address)
        assert sink.next().channels["jawOpen"] == 0.2
        assert ifm.stats()["not_allowed"] == 1


def test_passive_mode_binds_loopback_and_active_mode_all_interfaces():
    assert IFacialMocapReceiver().host == "127.0.0.1"
    active = IFacialMocapReceiver(phone="192.168.1.20")
    assert active.host == "0.0.0.0" and active.phone == ("192.168.1.20", 49983)


class SteppedReceiver(IFacialMocapReceiver):
    """The receiver with its handshake clock in the test's hands.

    Ticks and datagrams see ``now`` (set by the test) instead of the wall clock, and ticks are
    counted, so the test can wait for a tick that saw its time: the handshake rules are checked at
    chosen instants, whatever the machine's load. Sockets, thread and decoding stay real.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.now = 0.0
        self._ticks = 0
        self._ticked = threading.Condition()

    def _on_datagram(self, addr: tuple, received_at: float, frame_count: int) -> None:
        super()._on_datagram(addr, self.now, frame_count)

    def _on_tick(self, now: float) -> None:
        super()._on_tick(self.now)
        with self._ticked:
            self._ticks += 1
            self._ticked.notify_all()

    def settle(self) -> None:
        """Return once a whole tick (and every datagram before it) has run with the current ``now``."""
        with self._ticked:
            target = self._ticks + 2  # the tick under way may have read the old time
            assert self._ticked.wait_for(lambda: self._ticks >= target, PATIENCE_S)


def nothing_waiting(phone: socket.socket) -> bool:
    phone.setblocking(False)
    try:
        phone.recvfrom(1024)
    except BlockingIOError:
        return True
    finally:
        phone.settimeout(PATIENCE_S)
    return False


@pytest.mark.parametrize("facemotion3d", [False, True], ids=["ifacialmocap", "facemotion3d"])
def test_active_mode_repeats_the_start_string_until_data_flows(sink, facemotion3d):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as phone:
        phone.bind(("127.0.0.1", 0))
        phone.settimeout(PATIENCE_S)
        receiver = SteppedReceiver(
            "127.0.0.1", 0, phone="127.0.0.1", phone_port=phone.getsockname()[1],
            facemotion3d=facemotion3d, handshake_interval=0.3, on_frame=sink, lost_after=0.3,
        )  # fmt: skip
        expected = (FACEMOTION3D_START_STRING if facemotion3d else START_STRING).encode()
        with receiver:
            data, reply_to = phone.recvfrom(1024)  # at time 0
            assert data == expected
            assert reply_to == receiver.address, "the start string comes from the port we listen on"
            receiver.settle()
            assert nothing_waiting(phone), "not again before the interval"
            receiver.now = 0.3
            assert phone.recvfrom(1024)[0] == expected, "repeated while nothing comes back"
            # Data flows (a packet every 0.25 s, less than the interval) over several intervals:
            # at instants past the next scheduled start string, none is sent.
            for sent_at in (0.5, 0.75, 1.0, 1.25):
                receiver.now = sent_at
                phone.sendto(b"jawOpen&30|", reply_to)
                assert sink.next().channels["jawOpen"] == 0.3
                receiver.settle()
                receiver.now = sent_at + 0.2
                receiver.settle()
                assert nothing_waiting(phone), f"a start string while data flows (t={sent_at + 0.2})"
            # The phone goes quiet for longer than the interval: the receiver asks again.
            receiver.now = 1.25 + 0.35
            assert phone.recvfrom(1024)[0] == expected
            assert wait_until(lambda: receiver.latest().lost)
