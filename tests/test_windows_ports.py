"""Ports the Windows way, simulated on this OS: exclusive binding of the control port, WinError
10013 for ports Windows reserves, and `localhost` meaning the IPv4 loopback senders use."""

from __future__ import annotations

import socket
import sys
import threading

import pytest

from ezvtb_node.app.control import ControlServer
from ezvtb_node.doctor.ports import check_port
from ezvtb_node.endpoints import PortUse, bind_error
from ezvtb_node.inputs import VmcReceiver
from tests.inputs.osc_wire import APPLY, IMMEDIATE, blend, bundle

# winsock2.h: #define SO_EXCLUSIVEADDRUSE ((int)(~SO_REUSEADDR)), SO_REUSEADDR being 4.
WINDOWS_SO_EXCLUSIVEADDRUSE = ~4


def test_on_windows_the_control_port_is_bound_exclusively_not_shared(monkeypatch):
    options = []
    real_setsockopt = socket.socket.setsockopt

    def recording_setsockopt(sock, level, option, value):
        options.append((level, option, value))
        if option != WINDOWS_SO_EXCLUSIVEADDRUSE:  # Linux has no such option to pass on
            real_setsockopt(sock, level, option, value)

    monkeypatch.setattr(sys, "platform", "win32")
    monkeypatch.setattr(socket, "SO_EXCLUSIVEADDRUSE", WINDOWS_SO_EXCLUSIVEADDRUSE, raising=False)
    monkeypatch.setattr(socket.socket, "setsockopt", recording_setsockopt)
    server = ControlServer(("127.0.0.1", 0), dict, lambda: None)
    server._server.server_close()
    assert (socket.SOL_SOCKET, WINDOWS_SO_EXCLUSIVEADDRUSE, 1) in options
    assert not any(option == socket.SO_REUSEADDR and value for _, option, value in options), options


def test_a_second_control_server_on_the_same_port_is_refused():
    first = ControlServer(("127.0.0.1", 0), dict, lambda: None)
    try:
        with pytest.raises(OSError):
            ControlServer(first.address, dict, lambda: None)
    finally:
        first._server.server_close()


def windows_reserved(use):
    """What binding a port in an excluded range raises on Windows: WSAEACCES, WinError 10013."""
    error = PermissionError(
        13, "An attempt was made to access a socket in a way forbidden by its access permissions"
    )
    error.winerror = 10013
    return error


def test_a_port_windows_reserves_is_reported_as_reserved_with_the_netsh_command(monkeypatch):
    monkeypatch.setattr("ezvtb_node.endpoints.bind_error", windows_reserved)
    use = PortUse("browser source", "tcp", "127.0.0.1", 50123, "another ezvtb-node", "choose another port")
    check = check_port(use)
    assert "reserved by Windows" in check.detail and "another ezvtb-node" not in check.detail
    assert "netsh int ipv4 show excludedportrange protocol=tcp" in check.detail
    assert check.fix == "choose another port outside those ranges"


def windows_address_order(real):
    """getaddrinfo as Windows answers for localhost: ::1 before 127.0.0.1."""

    def getaddrinfo(host, port, *args, **kwargs):
        if host == "localhost":
            v6 = (socket.AF_INET6, socket.SOCK_DGRAM, 17, "", ("::1", port, 0, 0))
            v4 = (socket.AF_INET, socket.SOCK_DGRAM, 17, "", ("127.0.0.1", port))
            return [v6, v4]
        return real(host, port, *args, **kwargs)

    return getaddrinfo


def test_vmc_on_localhost_hears_a_sender_on_127_0_0_1_even_when_localhost_resolves_to_ipv6_first(monkeypatch):
    monkeypatch.setattr(socket, "getaddrinfo", windows_address_order(socket.getaddrinfo))
    frames, arrived = [], threading.Event()

    def on_frame(frame):
        frames.append(frame)
        arrived.set()

    with VmcReceiver(host="localhost", port=0, on_frame=on_frame) as vmc:
        assert vmc.address[0] == "127.0.0.1"
        assert bind_error(PortUse("VMC", "udp", "localhost", vmc.address[1], "", "")) is not None  # in use
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            sender.sendto(bundle(IMMEDIATE, blend("JawOpen", 0.5), APPLY), ("127.0.0.1", vmc.address[1]))
            assert arrived.wait(60), "nothing sent to 127.0.0.1 arrived"
    assert frames[0].channels["jawOpen"] == 0.5
