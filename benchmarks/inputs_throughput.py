"""Tracking input throughput and latency (issue: ≥ 20,000 VMC messages/s on one core, p99 arrival →
published ≤ 1 ms under that load, iFacialMocap at 10× its real rate).

    .venv/bin/python benchmarks/inputs_throughput.py [--seconds 3] [--repeats 5]

1. Decoding on one core, no sockets: our VMC decoder vs python-osc's own Dispatcher (strict timing
   off) fed the same VSeeFace-like datagrams; iFacialMocap decoder vs its real 60 packets/s. Rates
   are per second of the thread's CPU time, so other load on a shared machine does not count.
2. Real UDP: a sender process (pinned to the other core) sends VMC frames at 20,000 messages/s, then
   as fast as it can, to a VmcReceiver pinned to one core; iFacialMocap at 600 packets/s. Latency is
   measured from the datagram's arrival (``received_at``) and from the sender's send time (carried in
   ``/VMC/Ext/T`` or the packet) to the frame callback, all on the shared CLOCK_MONOTONIC.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import socket
import statistics
import struct
import sys
import time

from pythonosc.dispatcher import Dispatcher

from ezvtb_node.channels import ARKIT_BLENDSHAPES, VRM0_PRESETS
from ezvtb_node.inputs import IFacialMocapReceiver, VmcReceiver
from ezvtb_node.inputs.ifacialmocap import IFacialMocapDecoder
from ezvtb_node.inputs.vmc import VmcDecoder

HUMANOID_BONES = [
    "Hips",
    "Spine",
    "Chest",
    "UpperChest",
    "Neck",
    "Head",
    "LeftEye",
    "RightEye",
    "Jaw",
    "LeftShoulder",
    "LeftUpperArm",
    "LeftLowerArm",
    "LeftHand",
    "RightShoulder",
    "RightUpperArm",
    "RightLowerArm",
    "RightHand",
    "LeftUpperLeg",
    "LeftLowerLeg",
    "LeftFoot",
    "LeftToes",
    "RightUpperLeg",
    "RightLowerLeg",
    "RightFoot",
    "RightToes",
    "LeftThumbProximal",
    "LeftThumbIntermediate",
    "LeftThumbDistal",
    "LeftIndexProximal",
    "LeftIndexIntermediate",
    "LeftIndexDistal",
    "LeftMiddleProximal",
    "LeftMiddleIntermediate",
    "LeftMiddleDistal",
    "LeftRingProximal",
    "LeftRingIntermediate",
    "LeftRingDistal",
    "LeftLittleProximal",
    "LeftLittleIntermediate",
    "LeftLittleDistal",
    "RightThumbProximal",
    "RightThumbIntermediate",
    "RightThumbDistal",
    "RightIndexProximal",
    "RightIndexIntermediate",
    "RightIndexDistal",
    "RightMiddleProximal",
    "RightMiddleIntermediate",
    "RightMiddleDistal",
    "RightRingProximal",
    "RightRingIntermediate",
    "RightRingDistal",
    "RightLittleProximal",
    "RightLittleIntermediate",
    "RightLittleDistal",
]
DATAGRAM_LIMIT = 1400


# --- a compact OSC writer for the sender (the receiver side is what is measured) ----------------
def _osc_string(text: str) -> bytes:
    raw = text.encode() + b"\x00"
    return raw + b"\x00" * (-len(raw) % 4)


def _osc_message(address: str, tags: str, *values) -> bytes:
    payload = b""
    for tag, value in zip(tags, values, strict=True):
        payload += _osc_string(value) if tag == "s" else struct.pack(">f" if tag == "f" else ">i", value)
    return _osc_string(address) + _osc_string("," + tags) + payload


def _bundles(messages: list[bytes]) -> list[bytes]:
    """Pack messages into bundles of at most DATAGRAM_LIMIT bytes, as VMC senders do."""
    datagrams, current = [], []
    header = _osc_string("#bundle") + struct.pack(">Q", 1)
    size = len(header)
    for message in messages:
        if current and size + 4 + len(message) > DATAGRAM_LIMIT:
            datagrams.append(header + b"".join(current))
            current, size = [], len(header)
        current.append(struct.pack(">i", len(message)) + message)
        size += 4 + len(message)
    datagrams.append(header + b"".join(current))
    return datagrams


def vseeface_like_frame(send_time: float) -> tuple[list[bytes], int]:
    """One frame as a VSeeFace-style sender would split it: all humanoid bones, 52 ARKit + VRM blends,
    root, status, time, apply. Returns (datagrams, message count)."""
    messages = [_osc_message("/VMC/Ext/OK", "iiii", 1, 3, 0, 1)]
    messages.append(_osc_message("/VMC/Ext/Root/Pos", "sfffffff", "root", 0, 0, 0, 0, 0, 0, 1))
    messages += [
        _osc_message("/VMC/Ext/Bone/Pos", "sfffffff", b, 0, 0.1, 0, 0, 0.05, 0, 1) for b in HUMANOID_BONES
    ]
    messages += [
        _osc_message("/VMC/Ext/Blend/Val", "sf", name[0].upper() + name[1:], 0.3)
        for name in ARKIT_BLENDSHAPES
    ]
    messages += [_osc_message("/VMC/Ext/Blend/Val", "sf", name, 0.2) for name in VRM0_PRESETS]
    messages.append(_osc_message("/VMC/Ext/T", "f", 0.0))
    datagrams = _bundles(messages)
    apply_with_time = _bundles([_osc_message("/VMC/Ext/Blend/Apply", "")])
    return datagrams + apply_with_time, len(messages) + 1


def ifacialmocap_packet() -> bytes:
    items = [
        f"{name.replace('Left', '_L').replace('Right', '_R')}&{i % 100}"
        for i, name in enumerate(ARKIT_BLENDSHAPES)
    ]
    items += ["=head#-3.5,12.25,1.5,0.01,0.02,0.3", "rightEye#2,3,0", "leftEye#2,3,0"]
    return ("|".join(items) + "|").encode()


# --- 1. decoding on one core ---------------------------------------------------------------------
def _python_osc_dispatcher() -> Dispatcher:
    """python-osc's usual way in: a Dispatcher with one handler per VMC address storing the values."""
    state: dict = {}
    dispatcher = Dispatcher(strict_timing=False)
    dispatcher.map("/VMC/Ext/Blend/Val", lambda _a, name, value: state.__setitem__(name, value))
    dispatcher.map("/VMC/Ext/Blend/Apply", lambda _a: dict(state))
    dispatcher.map("/VMC/Ext/Bone/Pos", lambda _a, name, *v: state.__setitem__(name, v))
    dispatcher.set_default_handler(lambda *_: None)
    return dispatcher


def decode_rates(repeats: int) -> dict[str, float]:
    datagrams, messages = vseeface_like_frame(0.0)
    frames = 300
    ours, baseline = [], []
    for _ in range(repeats):
        decoder = VmcDecoder()
        start = time.thread_time()
        for _ in range(frames):
            for datagram in datagrams:
                decoder.feed(datagram, 0.0)
        ours.append(frames * messages / (time.thread_time() - start))
        dispatcher = _python_osc_dispatcher()
        start = time.thread_time()
        for _ in range(frames):
            for datagram in datagrams:
                dispatcher.call_handlers_for_packet(datagram, ("127.0.0.1", 0))
        baseline.append(frames * messages / (time.thread_time() - start))
    packet, ifm = ifacialmocap_packet(), []
    for _ in range(repeats):
        decoder = IFacialMocapDecoder()
        start = time.thread_time()
        for _ in range(2000):
            decoder.feed(packet, 0.0)
        ifm.append(2000 / (time.thread_time() - start))
    return {
        "vmc": statistics.median(ours),
        "python_osc": statistics.median(baseline),
        "ifm": statistics.median(ifm),
        "messages_per_frame": messages,
        "datagrams_per_frame": len(datagrams),
    }


# --- 2. real UDP ---------------------------------------------------------------------------------
def _pin(cpu: int) -> None:
    if hasattr(os, "sched_setaffinity") and len(os.sched_getaffinity(0)) > 1:
        os.sched_setaffinity(0, {cpu})


def _vmc_sender(address, frames_per_second: float, seconds: float, sent, start_value) -> None:
    """Send VSeeFace-like frames; /VMC/Ext/T carries the send time (seconds after ``start_value``)."""
    _pin(1)
    datagrams, _ = vseeface_like_frame(0.0)
    body, last = datagrams[:-2], datagrams[-2]  # last bundle holds /VMC/Ext/T; then the apply
    t_offset = last.index(_osc_string("/VMC/Ext/T") + _osc_string(",f")) + len(_osc_string("/VMC/Ext/T")) + 4
    apply_datagram = datagrams[-1]
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    period = 0.0 if frames_per_second == float("inf") else 1.0 / frames_per_second
    start = start_value.value = time.monotonic()
    next_at, count = start, 0
    while time.monotonic() - start < seconds:
        for datagram in body:
            sock.sendto(datagram, address)
        now = time.monotonic()
        stamped = last[:t_offset] + struct.pack(">f", now - start) + last[t_offset + 4 :]
        sock.sendto(stamped, address)
        sock.sendto(apply_datagram, address)
        count += 1
        if period:
            next_at += period
            delay = next_at - time.monotonic()
            if delay > 0:
                time.sleep(delay)
    sent.value = count
    sock.close()


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def udp_vmc(frames_per_second: float, seconds: float) -> dict[str, float]:
    arrival_to_published: list[float] = []
    send_to_published: list[float] = []
    thread_clock: list[tuple[float, float]] = []  # (wall, CPU time of the receive thread) per frame
    sender_start = multiprocessing.Value("d", 0.0)

    last_t = [None]

    def on_frame(frame) -> None:
        now = time.monotonic()
        if not frame.lost:
            arrival_to_published.append(now - frame.received_at)
            # The bones datagram publishes its own frame, still carrying the previous frame's
            # /VMC/Ext/T: send->published counts the first frame with each send time (the Apply's).
            if frame.t != last_t[0]:
                send_to_published.append(now - (sender_start.value + frame.t))
                last_t[0] = frame.t
            thread_clock.append((now, time.thread_time()))

    receiver = VmcReceiver(port=0, on_frame=on_frame, lost_after=5.0)
    with receiver:
        sent = multiprocessing.Value("i", 0)
        process = multiprocessing.Process(
            target=_vmc_sender, args=(receiver.address, frames_per_second, seconds, sent, sender_start)
        )
        process.start()
        process.join()
        time.sleep(0.3)
        stats = receiver.stats()
    (wall_first, cpu_first), (wall_last, cpu_last) = thread_clock[0], thread_clock[-1]
    return {
        "frames_sent": sent.value,
        "frames_published": stats["frames"],
        "messages_per_s": stats["messages"] / seconds,
        "cpu_share": (cpu_last - cpu_first) / (wall_last - wall_first),
        "arrival_p50_ms": _percentile(arrival_to_published, 0.5) * 1e3,
        "arrival_p99_ms": _percentile(arrival_to_published, 0.99) * 1e3,
        "send_p50_ms": _percentile(send_to_published, 0.5) * 1e3,
        "send_p99_ms": _percentile(send_to_published, 0.99) * 1e3,
    }


def _ifm_sender(address, packets_per_second: float, seconds: float, sent) -> None:
    _pin(1)
    template = ifacialmocap_packet()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    start = next_at = time.monotonic()
    count = 0
    while time.monotonic() - start < seconds:
        # The send time rides in head.z (a position the receiver passes through unchanged).
        stamp = f"=head#-3.5,12.25,1.5,0.01,0.02,{time.monotonic():.6f}".encode()
        sock.sendto(template.replace(b"=head#-3.5,12.25,1.5,0.01,0.02,0.3", stamp), address)
        count += 1
        next_at += 1.0 / packets_per_second
        delay = next_at - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    sent.value = count


def udp_ifm(packets_per_second: float, seconds: float) -> dict[str, float]:
    arrival, send = [], []

    def on_frame(frame) -> None:
        now = time.monotonic()
        if not frame.lost:
            arrival.append(now - frame.received_at)
            send.append(now - frame.channels["head.z"])

    with IFacialMocapReceiver(port=0, on_frame=on_frame, lost_after=5.0) as receiver:
        sent = multiprocessing.Value("i", 0)
        process = multiprocessing.Process(
            target=_ifm_sender, args=(receiver.address, packets_per_second, seconds, sent)
        )
        process.start()
        process.join()
        time.sleep(0.3)
        stats = receiver.stats()
    return {
        "sent": sent.value,
        "published": stats["frames"],
        "arrival_p50_ms": _percentile(arrival, 0.5) * 1e3,
        "arrival_p99_ms": _percentile(arrival, 0.99) * 1e3,
        "send_p50_ms": _percentile(send, 0.5) * 1e3,
        "send_p99_ms": _percentile(send, 0.99) * 1e3,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="length of each UDP run")
    parser.add_argument("--repeats", type=int, default=5, help="repeats of the decoding measurement")
    args = parser.parse_args()
    _pin(0)
    print(
        f"# {platform.machine()}, {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, {platform.system()}"
    )
    print("# receiver pinned to CPU 0, sender process to CPU 1; shared machine: medians, noisy\n")

    rates = decode_rates(args.repeats)
    print(
        f"VSeeFace-like frame: {rates['messages_per_frame']} messages "
        f"in {rates['datagrams_per_frame']} datagrams\n"
    )
    print(f"| decoding on one core (median of {args.repeats}) | rate | vs baseline |")
    print("|---|---|---|")
    print(f"| python-osc Dispatcher (baseline) | {rates['python_osc']:,.0f} messages/s | 1.00× |")
    print(
        f"| ezvtb VmcDecoder | {rates['vmc']:,.0f} messages/s | {rates['vmc'] / rates['python_osc']:.2f}× |"
    )
    print(
        f"| ezvtb IFacialMocapDecoder | {rates['ifm']:,.0f} packets/s "
        f"| {rates['ifm'] / 60:.0f}× the app's 60/s |"
    )

    target_fps = 20_000 / rates["messages_per_frame"]
    rows = [("VMC like VSeeFace at 60 Hz", udp_vmc(60.0, args.seconds))]
    rows.append(("VMC at 20,000 messages/s", udp_vmc(target_fps, args.seconds)))
    rows.append(("VMC flat out", udp_vmc(float("inf"), args.seconds)))
    print(
        "\n| real UDP, receiver on one core | frames sent → published | messages/s decoded "
        "| receive thread CPU | arrival→published p50 / p99 | send→published p50 / p99 |"
    )
    print("|---|---|---|---|---|---|")
    for name, r in rows:
        print(
            f"| {name} | {r['frames_sent']} → {r['frames_published']} | {r['messages_per_s']:,.0f} | "
            f"{r['cpu_share'] * 100:.0f}% | {r['arrival_p50_ms']:.3f} / {r['arrival_p99_ms']:.3f} ms | "
            f"{r['send_p50_ms']:.3f} / {r['send_p99_ms']:.3f} ms |"
        )
    ifm = udp_ifm(600, args.seconds)
    print(
        f"| iFacialMocap at 600 packets/s (10× real) | {ifm['sent']} → {ifm['published']} | – | – | "
        f"{ifm['arrival_p50_ms']:.3f} / {ifm['arrival_p99_ms']:.3f} ms | "
        f"{ifm['send_p50_ms']:.3f} / {ifm['send_p99_ms']:.3f} ms |"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
