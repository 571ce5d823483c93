"""Are the node's ports free? Probe by binding the same way the node will, and name who holds them."""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import sys
from dataclasses import dataclass
from pathlib import Path

from ezvtb_node.doctor.check import Check


@dataclass(frozen=True)
class PortUse:
    """A port the node will listen on. ``culprits``: who usually holds it."""

    label: str
    protocol: str  # "udp" or "tcp"
    host: str
    port: int
    culprits: str
    change: str  # how to pick another port


def bind_error(use: PortUse) -> OSError | None:
    """The error binding ``use`` gives now, or None when it is free."""
    kind = socket.SOCK_DGRAM if use.protocol == "udp" else socket.SOCK_STREAM
    try:
        family, _, _, _, address = socket.getaddrinfo(use.host, use.port, type=kind)[0]
    except socket.gaierror as exc:
        return OSError(errno.EADDRNOTAVAIL, f"cannot resolve {use.host!r} ({exc})")
    with socket.socket(family, kind) as probe:
        if use.protocol == "tcp" and sys.platform != "win32":
            # aiohttp's server sets SO_REUSEADDR on POSIX, so a port in TIME_WAIT does not count as taken.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
            if use.protocol == "tcp":
                probe.listen(1)
        except OSError as exc:
            return exc
    return None


def check_port(use: PortUse) -> Check:
    name = f"port {use.protocol.upper()} {use.port} ({use.label})"
    error = bind_error(use)
    if error is None:
        return Check(name, "ok", f"{use.host}:{use.port} is free")
    if error.errno in (errno.EADDRINUSE, getattr(errno, "WSAEADDRINUSE", -1)):
        holder = port_holders(use.protocol, use.port)
        who = f"held by {holder}" if holder else f"probably {use.culprits}"
        return Check(
            name,
            "warn",
            f"{use.host}:{use.port} is in use, {who}",
            f"close that program, or {use.change}",
        )
    return Check(
        name, "warn", f"cannot listen on {use.host}:{use.port}: {error.strerror or error}", use.change
    )


def port_holders(protocol: str, port: int) -> str:
    """Processes with a socket on ``port`` (Linux: from /proc, own processes only); '' if unknown."""
    inodes = set()
    for table in (f"/proc/net/{protocol}", f"/proc/net/{protocol}6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                if len(fields) > 9 and int(fields[1].rsplit(":", 1)[1], 16) == port:
                    inodes.add(fields[9])
    if not inodes:
        return ""
    targets = {f"socket:[{inode}]" for inode in inodes}
    holders = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        with contextlib.suppress(OSError):
            fds = os.listdir(f"/proc/{pid}/fd")
            if any(_fd_target(pid, fd) in targets for fd in fds):
                command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
                holders.append(f"PID {pid} ({command if len(command) <= 100 else command[:99] + '…'})")
    return ", ".join(holders)


def _fd_target(pid: str, fd: str) -> str:
    """What ``/proc/PID/fd/FD`` points to; '' for a descriptor closed since the listing (such as
    the one ``os.listdir`` itself used), which must not hide the process's other descriptors."""
    try:
        return os.readlink(f"/proc/{pid}/fd/{fd}")
    except OSError:
        return ""
