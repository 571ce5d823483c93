"""A UDP receiver: one socket, one thread, datagrams handed to a protocol decoder in arrival order.

The thread waits in ``select`` on the socket and a wake-up socket, then drains every queued datagram
without blocking, so a burst costs one wake-up and stop() returns at once. Decoders never see time
tags or sleep: a sender whose clock runs ahead cannot delay anything.

Decoded state belongs to one sender: when a datagram comes from another address or port than the
previous one, or after no datagram for ``lost_after`` seconds, the decoder is reset first
(``sender_changes`` counts the switches), so what a sender that left sent never shows on the next
one's character. Two programs sending to one port at once therefore reset each other: pick one
with ``allow_from`` or give each its own port.
"""

from __future__ import annotations

import contextlib
import errno
import select
import socket
import time
from collections.abc import Callable, Iterable
from typing import Protocol

from ezvtb_node.endpoints import loopback_as_ipv4
from ezvtb_node.inputs.source import DEFAULT_LOST_AFTER_S, Counters, FrameCallback, FrameSource
from ezvtb_node.inputs.tracking import TrackingFrame

MAX_UDP_PAYLOAD = 65535
_IDLE_TICK_S = 0.05  # how often the thread checks the lost state while no datagram comes

DatagramTap = Callable[[str, bytes, float], None]


class Decoder(Protocol):
    """Turns the datagrams of one protocol into tracking frames."""

    source: str
    counters: Counters

    def feed(self, data: bytes, received_at: float) -> list[TrackingFrame]: ...

    def reset(self) -> None:
        """Forget the state kept between datagrams (a new sender starts)."""

    def carries_state(self, data: bytes) -> bool:
        """Whether ``data`` comes from a tracking sender (False: a command another program sends,
        which must not count as a sender change nor keep a lost sender alive)."""


class UdpReceiver(FrameSource):
    """Receives datagrams on ``host:port`` and publishes the frames ``decoder`` makes of them.

    ``allow_from``: source IP addresses to accept (others are dropped and counted); None accepts all.
    ``tap(source, datagram, received_at)`` sees every accepted datagram (raw capture).
    ``receive_buffer_bytes`` bounds the kernel queue: enough for bursts, small enough that an
    overloaded receiver works through at most a fraction of a second of stale datagrams.
    """

    COUNTERS = (*FrameSource.COUNTERS, "datagrams", "not_allowed", "oversized", "sender_changes")
    PORT_CULPRITS = "another program"
    max_datagram = MAX_UDP_PAYLOAD

    def __init__(
        self,
        decoder: Decoder,
        *,
        host: str,
        port: int,
        allow_from: Iterable[str] | None = None,
        tap: DatagramTap | None = None,
        lost_after: float = DEFAULT_LOST_AFTER_S,
        on_frame: FrameCallback | None = None,
        receive_buffer_bytes: int = 256 << 10,
    ) -> None:
        super().__init__(lost_after=lost_after, on_frame=on_frame)
        if not isinstance(port, int) or not 0 <= port <= 65535:
            raise ValueError(f"UDP port must be an integer 0-65535, got {port!r}")
        self.decoder = decoder
        self.host = host
        self.port = port
        self.allow_from = frozenset(allow_from) if allow_from is not None else None
        self._tap = tap
        self._receive_buffer_bytes = receive_buffer_bytes
        self._sock: socket.socket | None = None
        self._wake_r: socket.socket | None = None
        self._wake_w: socket.socket | None = None
        self._sender: tuple | None = None  # (address, port) of the datagrams decoded last
        self._sender_heard_at = 0.0

    @property
    def sender(self) -> tuple | None:
        """(address, port) of the sender whose state the decoder holds; None before one or after
        it fell silent for ``lost_after`` seconds."""
        return self._sender

    @property
    def address(self) -> tuple[str, int]:
        """The bound (host, port); the real port when 0 was asked for."""
        if self._sock is None:
            return (self.host, self.port)
        return self._sock.getsockname()[:2]

    def stats(self) -> dict[str, int]:
        return {**super().stats(), **self.decoder.counters.snapshot()}

    def _open(self) -> None:
        try:
            infos = socket.getaddrinfo(loopback_as_ipv4(self.host), self.port, type=socket.SOCK_DGRAM)
        except socket.gaierror as exc:
            raise ValueError(
                f"cannot listen on host {self.host!r}: expected an IP address or host name ({exc})"
            ) from None
        family, _, _, _, sockaddr = infos[0]
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self._receive_buffer_bytes)
            sock.bind(sockaddr)
        except OSError as exc:
            sock.close()
            raise RuntimeError(self._bind_error(exc)) from None
        sock.setblocking(False)
        self._sock = sock
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)

    def _bind_error(self, exc: OSError) -> str:
        where = f"UDP port {self.port} on {self.host}"
        if exc.errno in (errno.EADDRINUSE, getattr(errno, "WSAEADDRINUSE", -1)):
            return (
                f"{where} is already in use, probably by {self.PORT_CULPRITS}. "
                f"Close it or choose another port ({exc.strerror})."
            )
        if exc.errno in (errno.EADDRNOTAVAIL, getattr(errno, "WSAEADDRNOTAVAIL", -1)):
            return f"cannot listen on {where}: {self.host} is not an address of this machine ({exc.strerror})"
        if exc.errno in (errno.EACCES, errno.EPERM):
            return f"cannot listen on {where}: permission denied ({exc.strerror})"
        return f"cannot listen on {where}: {exc}"

    def _close(self) -> None:
        for sock in (self._sock, self._wake_r, self._wake_w):
            if sock is not None:
                sock.close()
        self._sock = self._wake_r = self._wake_w = None

    def _wake(self) -> None:
        if self._wake_w is not None:
            # A full wake-up socket means the thread is already awake.
            with contextlib.suppress(OSError):
                self._wake_w.send(b"x")

    def _run(self) -> None:
        sock, wake = self._sock, self._wake_r
        assert sock is not None and wake is not None
        while not self._stopping.is_set():
            readable, _, _ = select.select((sock, wake), (), (), _IDLE_TICK_S)
            if sock in readable:
                self._drain(sock)
            now = time.monotonic()
            self._check_lost(now)
            if self._sender is not None and now >= self._sender_heard_at + self.lost_after:
                # Silent (lost, or held by its own status and quiet): whoever sends next starts afresh.
                self.decoder.reset()
                self._sender = None
            self._on_tick(now)

    def _drain(self, sock: socket.socket) -> None:
        while True:
            try:
                data, addr = sock.recvfrom(MAX_UDP_PAYLOAD)
            except (BlockingIOError, InterruptedError):
                return
            except ConnectionResetError:
                continue  # Windows reports an earlier send's ICMP "port unreachable" here
            received_at = time.monotonic()
            try:
                self._handle(data, addr, received_at)
            except Exception:
                self._counters.add("internal_errors")
                self._log.exception("%s: unexpected error on a datagram; continuing", self.name)

    def _handle(self, data: bytes, addr: tuple, received_at: float) -> None:
        self._counters.add("datagrams")
        if self.allow_from is not None and addr[0] not in self.allow_from:
            self._counters.add("not_allowed")
            self._warn.warning("not_allowed", f"{self.name}: dropped a datagram from {addr[0]} (not allowed)")
            return
        if len(data) > self.max_datagram:
            self._counters.add("oversized")
            self._warn.warning(
                "oversized", f"{self.name}: dropped a {len(data)}-byte datagram (limit {self.max_datagram})"
            )
            return
        if self.decoder.carries_state(data):
            if addr != self._sender:
                if self._sender is not None:
                    self._counters.add("sender_changes")
                    self.decoder.reset()
                self._sender = addr
            self._sender_heard_at = received_at
        if self._tap is not None:
            self._tap(self.decoder.source, data, received_at)
        frames = self.decoder.feed(data, received_at)
        for frame in frames:
            self._publish(frame)
        self._on_datagram(addr, received_at, len(frames))

    def _on_tick(self, now: float) -> None:
        """Periodic hook on the receive thread (about every 50 ms while idle and after each burst)."""

    def _on_datagram(self, addr: tuple, received_at: float, frame_count: int) -> None:
        """Hook after a datagram was decoded into ``frame_count`` frames."""
