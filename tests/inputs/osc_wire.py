"""An OSC 1.0 encoder written for the tests, independent of python-osc, so the receiver is checked
against a second implementation of the wire format (big-endian, 4-byte aligned, NTP time tags)."""

from __future__ import annotations

import struct

NTP_UNIX_OFFSET = 2208988800  # seconds from 1900-01-01 (NTP era 0) to 1970-01-01
IMMEDIATE = 1  # the special "now" time tag


def pad(raw: bytes) -> bytes:
    return raw + b"\x00" * (-len(raw) % 4)


def osc_string(text: str | bytes) -> bytes:
    raw = text.encode("utf-8") if isinstance(text, str) else text
    return pad(raw + b"\x00")


def message(address: str, *args) -> bytes:
    """Arguments: str → s, float → f (32-bit), bool → T/F, int → i, bytes → b, None → N,
    or an explicit (tag, value) pair such as ("d", 1.5) or ("h", 2**40)."""
    tags, payload = ",", b""
    for arg in args:
        tag, value = arg if isinstance(arg, tuple) else (None, arg)
        if tag is None:
            if isinstance(arg, bool):
                tag = "T" if arg else "F"
            elif isinstance(arg, str):
                tag = "s"
            elif isinstance(arg, float):
                tag = "f"
            elif isinstance(arg, int):
                tag = "i"
            elif isinstance(arg, bytes):
                tag = "b"
            elif arg is None:
                tag = "N"
        tags += tag
        if tag == "s":
            payload += osc_string(value)
        elif tag == "f":
            payload += struct.pack(">f", value)
        elif tag == "d":
            payload += struct.pack(">d", value)
        elif tag == "i":
            payload += struct.pack(">i", value)
        elif tag == "h":
            payload += struct.pack(">q", value)
        elif tag == "b":
            payload += struct.pack(">i", len(value)) + pad(value)
    return osc_string(address) + osc_string(tags) + payload


def timetag(unix_seconds: float) -> int:
    seconds = int(unix_seconds) + NTP_UNIX_OFFSET
    fraction = int((unix_seconds % 1) * (1 << 32))
    return ((seconds << 32) | fraction) % (1 << 64)  # NTP era rollover (2036) wraps


def bundle(tag: int, *elements: bytes) -> bytes:
    body = b"".join(struct.pack(">i", len(element)) + element for element in elements)
    return osc_string("#bundle") + struct.pack(">Q", tag % (1 << 64)) + body


def blend(name: str, value: float) -> bytes:
    return message("/VMC/Ext/Blend/Val", name, value)


APPLY = message("/VMC/Ext/Blend/Apply")


def bone(name: str, quaternion: tuple[float, float, float, float], position=(0.0, 0.0, 0.0)) -> bytes:
    return message("/VMC/Ext/Bone/Pos", name, *map(float, position), *map(float, quaternion))
