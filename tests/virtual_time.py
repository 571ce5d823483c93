"""Virtual time for threads that pace themselves (the output pacer, the replays).

Such a thread reads a clock and sleeps through ``stop_event.wait(seconds)``, so that ``stop()``
interrupts it. Give it ``clock=vt.clock`` and ``vt.event()`` as its stop event: its real code then
runs as fast as the machine allows, time moves only when it waits (or when a test moves it), and
what it does depends on no wall clock or scheduler. A loaded machine makes such a test slower,
never different.
"""

from __future__ import annotations

import threading
import time


class VirtualTime:
    """A clock that moves when a thread waits on one of its events; ``hold()`` parks such a thread
    at its next wait until ``release()``, so a test can act at an instant of its choosing."""

    def __init__(self, start: float = 0.0) -> None:
        self.now = start
        self._open = threading.Event()
        self._open.set()
        self.waiting = threading.Event()  # some thread reached a wait on one of our events

    def clock(self) -> float:
        return self.now

    def hold(self) -> None:
        self._open.clear()

    def release(self) -> None:
        self._open.set()

    def event(self) -> threading.Event:
        """A stop event whose timed waits advance this clock by their timeout instead of sleeping."""
        virtual = self

        class VirtualStop(threading.Event):
            def wait(self, timeout: float | None = None) -> bool:
                if self.is_set() or timeout is None:
                    return super().wait(timeout)
                target = virtual.now + timeout
                virtual.waiting.set()
                while not virtual._open.wait(0.01):  # held by the test, unless stopped meanwhile
                    if self.is_set():
                        return True
                virtual.now = max(virtual.now, target)
                time.sleep(0)  # let other threads in: the waiting thread would hog the GIL
                return self.is_set()

        return VirtualStop()
