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
import socket
import sys
from dataclasses import dataclass

import psutil

# WinError 10013: binding a port inside a range Windows keeps for itself (`netsh int ipv4 show
# excludedportrange`), not a port another program holds.
WSAEACCES = 10013
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


def loopback_as_ipv4(host: str) -> str:
    """The address a listener binds for ``host``: 'localhost' is 127.0.0.1, where VSeeFace, VMC
    senders and iFacialMocap send. Windows' getaddrinfo lists ::1 first for localhost, and a socket
    bound to ::1 alone hears nothing sent to 127.0.0.1."""
    return "127.0.0.1" if host.lower() == "localhost" else host


def bind_error(use: PortUse) -> OSError | None:
    """The error binding ``use`` gives now, or None when it is free."""
    kind = socket.SOCK_DGRAM if use.protocol == "udp" else socket.SOCK_STREAM
    try:
        family, _, _, _, address = socket.getaddrinfo(loopback_as_ipv4(use.host), use.port, type=kind)[0]
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
    if getattr(error, "winerror", None) == WSAEACCES:
        return (
            f"{use.host}:{use.port} is reserved by Windows (Hyper-V, WSL or Docker reserve port ranges; "
            f"`netsh int ipv4 show excludedportrange protocol={use.protocol}` lists them)",
            f"{use.change} outside those ranges",
        )
    return f"cannot listen on {use.host}:{use.port}: {error.strerror or error}", use.change


def port_holders(protocol: str, port: int) -> str:
    """Processes with a ``protocol`` socket on local ``port``, as 'PID n (command line)'; '' if
    none can be seen. psutil asks each OS its own way (Windows' connection table, /proc, libproc);
    where the whole table needs root (macOS), the processes of this user are asked one by one."""
    kind = "udp" if protocol == "udp" else "tcp"  # IPv4 and IPv6

    def on_port(connections: list) -> bool:
        return any(c.laddr and c.laddr.port == port for c in connections)

    try:
        pids = {c.pid for c in psutil.net_connections(kind) if on_port([c])}
    except psutil.AccessDenied:
        pids = set()
        for process in psutil.process_iter():
            with contextlib.suppress(psutil.Error):
                if on_port(process.net_connections(kind)):
                    pids.add(process.pid)
    holders = []
    for pid in sorted(pid for pid in pids if pid):
        try:
            process = psutil.Process(pid)
            command = " ".join(process.cmdline()) or process.name()
        except psutil.Error:
            command = "?"
        holders.append(f"PID {pid} ({command if len(command) <= 100 else command[:99] + '…'})")
    return ", ".join(holders)
