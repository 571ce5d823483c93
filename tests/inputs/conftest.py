from __future__ import annotations

import queue
import socket
import time

import pytest


class FrameSink:
    """Collects published frames (callback side) so a test can wait for them."""

    def __init__(self) -> None:
        self.frames: queue.Queue = queue.Queue()

    def __call__(self, frame) -> None:
        self.frames.put(frame)

    def next(self, timeout: float = 2.0):
        return self.frames.get(timeout=timeout)

    def none_within(self, seconds: float) -> bool:
        try:
            self.frames.get(timeout=seconds)
        except queue.Empty:
            return True
        return False

    def drain(self) -> list:
        items = []
        while True:
            try:
                items.append(self.frames.get_nowait())
            except queue.Empty:
                return items


@pytest.fixture
def sink() -> FrameSink:
    return FrameSink()


@pytest.fixture
def udp():
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    yield sock
    sock.close()


def wait_until(predicate, timeout: float = 2.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.005)
    return predicate()
