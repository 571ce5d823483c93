"""100,000+ random and mutated datagrams over real sockets: nothing escapes, counters move, the next
good packet still works."""

from __future__ import annotations

import math
import random
import socket
import struct

import pytest

from ezvtb_node.inputs import IFacialMocapReceiver, VmcReceiver

from .conftest import wait_until
from .osc_wire import APPLY, IMMEDIATE, blend, bone, bundle, message

# Each burst must fit the receiver's socket buffer even if its thread gets no CPU meanwhile (a loaded
# machine), else the kernel drops datagrams and the count never arrives. The receiver asks for
# 256 KiB (Linux doubles it); the kernel charges a datagram its length plus under 1 KiB of
# bookkeeping (measured: 227 datagrams of 1,500 bytes fill 512 KiB). Count 2 KiB on top of each
# length and fill at most the 256 KiB asked for: a margin of two and more.
BURST_BYTES = 256 << 10
DATAGRAM_OVERHEAD = 2048


def _valid_vmc(rng: random.Random) -> bytes:
    return bundle(
        rng.getrandbits(64),
        bundle(IMMEDIATE, blend("JawOpen", rng.random()), blend("Blink_L", rng.random())),
        bone("Head", (0.0, rng.random(), 0.0, 1.0)),
        message("/VMC/Ext/Root/Pos", "root", *(rng.random() for _ in range(7))),
        message("/VMC/Ext/OK", 1, 3, 0, 1),
        message("/VMC/Ext/T", rng.random()),
        APPLY,
    )


def _mutate(rng: random.Random, data: bytes) -> bytes:
    buffer = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        choice = rng.randrange(6)
        position = rng.randrange(len(buffer) + 1)
        if choice == 0 and buffer:  # flip bits
            buffer[position % len(buffer)] ^= 1 << rng.randrange(8)
        elif choice == 1:  # truncate
            del buffer[position:]
        elif choice == 2:  # insert random bytes
            buffer[position:position] = rng.randbytes(rng.randint(1, 16))
        elif choice == 3 and len(buffer) >= 4:  # a random 32-bit field (sizes, lengths, floats)
            start = (position // 4) * 4 % max(4, len(buffer) - 3)
            buffer[start : start + 4] = struct.pack(
                ">I", rng.choice([0, 1, 0xFFFFFFFF, 0x7FFFFFFF, 0x7FC00000])
            )
        elif choice == 4:  # duplicate a slice
            end = min(len(buffer), position + rng.randint(1, 64))
            buffer[position:position] = buffer[position:end]
        else:  # replace a byte with a special character
            if buffer:
                buffer[position % len(buffer)] = rng.choice(b"\x00,#/ifsbhdtTFN[]\xff\x80")
    return bytes(buffer)


def _structured_vmc(rng: random.Random) -> bytes:
    """Well-framed OSC with hostile content: wrong types, NaN/inf, odd counts, deep nesting."""
    addresses = ["/VMC/Ext/Blend/Val", "/VMC/Ext/Blend/Apply", "/VMC/Ext/Bone/Pos", "/VMC/Ext/Root/Pos",
                 "/VMC/Ext/OK", "/VMC/Ext/T", "/VMC/Ext/Other"]  # fmt: skip
    values = [0.5, float("nan"), float("inf"), -float("inf"), 1e38, 7, -1, "Head", "JawOpen", "", b"\x00\x01",
              True, None, ("d", 1e300), ("h", 2**62)]  # fmt: skip
    element = message(rng.choice(addresses), *rng.choices(values, k=rng.randint(0, 9)))
    for _ in range(rng.choice([0, 0, 1, 3, 12])):
        element = bundle(rng.getrandbits(64), element)
    return element


def _valid_ifm(rng: random.Random) -> bytes:
    sep = rng.choice("-&")
    items = [f"{name}{sep}{rng.randint(0, 100)}" for name in ("eyeBlink_L", "jawOpen", "mouthSmile_R")]
    items.append(f"=head#{rng.uniform(-30, 30)},{rng.uniform(-30, 30)},0,0,0,0")
    return ("|".join(items) + "|rightEye#1,2,3|leftEye#1,2,3|").encode()


def _text_ifm(rng: random.Random) -> bytes:
    tokens = ["jawOpen", "eyeBlink_L", "=head#", "rightEye#", "|", "&", "-", ",", "nan", "inf", "1e309",
              "-5", "100", "250", "x", "FM_browDown", "#", "=", "\u00e9", " "]  # fmt: skip
    return "".join(rng.choices(tokens, k=rng.randint(0, 40))).encode()


def _bursts(datagrams: list[bytes]) -> list[list[bytes]]:
    """Consecutive groups that each fit the receiver's socket buffer (see BURST_BYTES)."""
    bursts: list[list[bytes]] = [[]]
    used = 0
    for datagram in datagrams:
        cost = len(datagram) + DATAGRAM_OVERHEAD
        if bursts[-1] and used + cost > BURST_BYTES:
            bursts.append([])
            used = 0
        bursts[-1].append(datagram)
        used += cost
    return bursts


def _send_all(receiver, datagrams) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
        target = receiver.stats()["datagrams"]
        for burst in _bursts(datagrams):
            for datagram in burst:
                sender.sendto(datagram, receiver.address)
            target += len(burst)
            assert wait_until(lambda t=target: receiver.stats()["datagrams"] >= t)
        assert receiver.stats()["datagrams"] == target


@pytest.fixture(scope="module")
def rng() -> random.Random:
    return random.Random(20261124)


def test_vmc_receiver_survives_60000_hostile_datagrams(rng, sink):
    datagrams = [rng.randbytes(rng.randint(0, 1500)) for _ in range(20_000)]
    datagrams += [_mutate(rng, _valid_vmc(rng)) for _ in range(20_000)]
    datagrams += [_structured_vmc(rng) for _ in range(20_000)]
    with VmcReceiver(port=0, on_frame=sink, lost_after=60) as vmc:
        _send_all(vmc, datagrams)
        stats = vmc.stats()
        assert vmc.running and stats["internal_errors"] == 0 and stats["callback_errors"] == 0
        for reason in (
            "bad_osc",
            "wrong_type",
            "too_few_args",
            "non_finite",
            "bundle_too_deep",
            "unknown_address",
        ):
            assert stats[reason] > 0, f"the fuzz never reached {reason}"
        frames = sink.drain()
        assert frames, "mutations that stay valid must still produce frames"
        assert all(math.isfinite(v) for f in frames for v in f.channels.values())
        # The next good frame is decoded exactly.
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            good = bundle(IMMEDIATE, message("/VMC/Ext/OK", 1, 3, 0, 1), blend("JawOpen", 0.25), APPLY)
            sender.sendto(good, vmc.address)
        frame = sink.next()
        assert frame.channels["jawOpen"] == 0.25 and not frame.lost


def test_ifacialmocap_receiver_survives_45000_hostile_datagrams(rng, sink):
    datagrams = [rng.randbytes(rng.randint(0, 1500)) for _ in range(15_000)]
    datagrams += [_mutate(rng, _valid_ifm(rng)) for _ in range(15_000)]
    datagrams += [_text_ifm(rng) for _ in range(15_000)]
    with IFacialMocapReceiver(port=0, on_frame=sink, lost_after=60) as ifm:
        _send_all(ifm, datagrams)
        stats = ifm.stats()
        assert ifm.running and stats["internal_errors"] == 0
        for reason in ("bad_utf8", "bad_item", "unknown_name", "non_finite", "out_of_range", "empty"):
            assert stats[reason] > 0, f"the fuzz never reached {reason}"
        frames = sink.drain()
        assert frames and all(math.isfinite(v) for f in frames for v in f.channels.values())
        assert all(0.0 <= f.channels["jawOpen"] <= 1.0 for f in frames)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            sender.sendto(b"jawOpen&25|", ifm.address)
        assert sink.next().channels["jawOpen"] == 0.25
