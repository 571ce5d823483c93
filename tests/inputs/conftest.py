from __future__ import annotations

import queue
import socket
import time

import pytest

# How long a test waits for something that must happen. Generous on purpose: it only runs out when
# a test fails, and a loaded machine may take far longer than usual to schedule a receive thread.
PATIENCE_S = 30.0


class FrameSink:
    """Collects published frames (callback side) so a test can wait for them."""

    def __init__(self) -> None:
        self.frames: queue.Queue = queue.Queue()

    def __call__(self, frame) -> None:
        self.frames.put(frame)

    def next(self, timeout: float = PATIENCE_S):
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


def wait_until(predicate, timeout: float = PATIENCE_S) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.005)
    return predicate()
