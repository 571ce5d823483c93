"""Network addresses: the one parser for what users type (node.toml, ``run``, ``listen``,
``--output``), and whether a port the node will listen on is free (and who holds it).

Accepted forms, for a listener whose defaults are DEFAULT_HOST and DEFAULT_PORT:

=================  ======================================================
``HOST:PORT``      both given (``[::1]:9000`` for IPv6)
``PORT``           DEFAULT_HOST, that port
``:PORT``          DEFAULT_HOST, that port
``HOST``           that host, DEFAULT_PORT
``on``             DEFAULT_HOST:DEFAULT_PORT (where a listener can be switched)
``off`` or empty   no listener (where a listener can be switched)
=================  ======================================================

Port 0 asks the OS for a free port (tests use it). Every caller gets the same answer for the
same text, so doctor checks exactly the ports the node will open.
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import sys
from dataclasses import dataclass
from pathlib import Path

SWITCH_OFF = frozenset({"off", "", "false", "no"})
SWITCH_ON = frozenset({"on", "true", "yes"})


def parse_endpoint(
    text: str, default_host: str, default_port: int, what: str, switchable: bool = True
) -> tuple[str, int] | None:
    """``(host, port)`` for ``text``, or None for 'off' (only when ``switchable``).

    Raises ValueError naming ``what`` (the setting), the forms expected and the text that came.
    """
    value = text.strip()
    forms = "HOST:PORT, PORT or HOST" + (", 'on' or 'off'" if switchable else "")
    if switchable and value.lower() in SWITCH_OFF:
        return None
    if switchable and value.lower() in SWITCH_ON:
        return default_host, default_port
    if not value:
        raise ValueError(f"{what}: expected {forms}, got an empty value")
    if value.startswith("["):  # [v6-address] or [v6-address]:PORT
        host, bracket, rest = value[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise ValueError(f"{what}: expected {forms}, got {text!r}")
        port_text = rest[1:] if rest else str(default_port)
    elif value.count(":") > 1:  # a bare IPv6 address: no port can follow it unbracketed
        host, port_text = value, str(default_port)
    else:
        host, colon, port_text = value.rpartition(":")
        if not colon:
            host, port_text = ("", value) if value.isdigit() else (value, str(default_port))
    if not port_text.isdigit() or int(port_text) > 65535:
        raise ValueError(f"{what}: expected {forms} with a port 0-65535, got {text!r}")
    return host or default_host, int(port_text)


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


def port_problem(use: PortUse) -> tuple[str, str] | None:
    """None when ``use`` can listen now, else (what is wrong, how to fix it) in words for users."""
    error = bind_error(use)
    if error is None:
        return None
    if error.errno in (errno.EADDRINUSE, getattr(errno, "WSAEADDRINUSE", -1)):
        holder = port_holders(use.protocol, use.port)
        who = f"held by {holder}" if holder else f"probably {use.culprits}"
        return f"{use.host}:{use.port} is in use, {who}", f"close that program, or {use.change}"
    return f"cannot listen on {use.host}:{use.port}: {error.strerror or error}", use.change


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
            if any(_fd_target(pid, fd) in targets for fd in os.listdir(f"/proc/{pid}/fd")):
                command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
                holders.append(f"PID {pid} ({command if len(command) <= 100 else command[:99] + '…'})")
    return ", ".join(holders)


def _fd_target(pid: str, fd: str) -> str:
    """What a file descriptor points at; '' when it was closed since the listing (other threads of
    that process open and close files all the time: one closed fd must not hide the process)."""
    try:
        return os.readlink(f"/proc/{pid}/fd/{fd}")
    except OSError:
        return ""
