from __future__ import annotations

import os
import socket
import sys

import psutil
import pytest

from ezvtb_node.doctor import node_ports, run_checks
from ezvtb_node.doctor.ports import PortUse, check_port
from ezvtb_node.endpoints import port_holders
from tests.doctor.conftest import by_name, quiet_config


def _free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_udp_port_in_use_warns_and_names_the_holder():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as squatter:
        squatter.bind(("127.0.0.1", 0))
        port = squatter.getsockname()[1]
        checks = run_checks(quiet_config(vmc=f"127.0.0.1:{port}"))
    check = by_name(checks, f"port UDP {port} (VMC)")
    assert check.status == "warn"
    assert "in use" in check.detail
    assert f"PID {os.getpid()}" in check.detail  # psutil names the holder on every OS
    assert "--vmc" in check.fix


@pytest.mark.parametrize("family", [socket.AF_INET, socket.AF_INET6], ids=["IPv4", "IPv6"])
def test_the_holder_of_a_tcp_port_is_named_with_its_command_line(family):
    with socket.socket(family, socket.SOCK_STREAM) as squatter:
        squatter.bind(("::1" if family == socket.AF_INET6 else "127.0.0.1", 0))
        squatter.listen(1)
        port = squatter.getsockname()[1]
        holders = port_holders("tcp", port)
    assert holders.startswith(f"PID {os.getpid()} (") and "python" in holders.lower()
    assert port_holders("tcp", port) == ""  # closed: nobody holds it


def test_when_the_whole_table_needs_root_this_users_processes_are_asked_one_by_one(monkeypatch):
    """macOS: psutil.net_connections raises AccessDenied without root (psutil docs)."""

    def denied(kind):
        raise psutil.AccessDenied()

    monkeypatch.setattr(psutil, "net_connections", denied)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as squatter:
        squatter.bind(("127.0.0.1", 0))
        assert f"PID {os.getpid()} " in port_holders("udp", squatter.getsockname()[1])


def test_tcp_listener_on_control_port_warns():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen(1)
        port = squatter.getsockname()[1]
        checks = run_checks(quiet_config(control=f"127.0.0.1:{port}"))
    check = by_name(checks, f"port TCP {port} (control)")
    assert check.status == "warn"
    assert "--control" in check.fix


def test_free_ports_are_ok():
    udp, tcp = _free_port(socket.SOCK_DGRAM), _free_port(socket.SOCK_STREAM)
    checks = run_checks(quiet_config(ifacialmocap=f"127.0.0.1:{udp}", output=[f"browser:127.0.0.1:{tcp}"]))
    assert by_name(checks, f"port UDP {udp} (iFacialMocap)").status == "ok"
    assert by_name(checks, f"port TCP {tcp} (browser source)").status == "ok"


def test_without_a_config_every_default_port_is_checked():
    uses = {(use.protocol, use.host, use.port, use.label) for use in node_ports(None)}
    assert uses == {
        ("udp", "127.0.0.1", 39539, "VMC"),
        ("udp", "127.0.0.1", 49983, "iFacialMocap"),
        ("tcp", "127.0.0.1", 8765, "browser source"),
        ("tcp", "127.0.0.1", 8766, "control"),
    }


def test_config_ports_follow_the_config():
    config = quiet_config(ifacialmocap="on", output=["files:out", "browser:9000"], control="127.0.0.1:9001")
    uses = {(use.protocol, use.host, use.port) for use in node_ports(config)}
    assert uses == {("udp", "127.0.0.1", 49983), ("tcp", "127.0.0.1", 9000), ("tcp", "127.0.0.1", 9001)}


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({"vmc": "on"}, ("udp", "127.0.0.1", 39539)),  # "on" is the default address, not a host
        ({"vmc": "39540"}, ("udp", "127.0.0.1", 39540)),
        ({"ifacialmocap": "on", "ifacialmocap_phone": "192.0.2.7"}, ("udp", "0.0.0.0", 49983)),
        ({"ifacialmocap_phone": "192.0.2.7"}, ("udp", "0.0.0.0", 49983)),
    ],
)
def test_doctor_checks_the_ports_the_node_itself_would_open(settings, expected):
    from ezvtb_node.app.assembly import make_sources

    config = quiet_config(**{"vmc": "off", **settings})
    checked = {(use.protocol, use.host, use.port) for use in node_ports(config)}
    opened = {("udp", source.host, source.port) for source in make_sources(config, lambda frame: None)}
    assert expected in checked
    assert opened <= checked


def test_unknown_host_is_a_warning_not_a_crash():
    check = check_port(PortUse("VMC", "udp", "no-such-host.invalid", 39539, "x", "use --vmc"))
    assert check.status == "warn"
    assert "no-such-host.invalid" in check.detail


@pytest.mark.skipif(sys.platform == "win32", reason="TIME_WAIT handling differs on Windows")
def test_tcp_port_left_in_time_wait_counts_as_free():
    # The browser source reuses a port its last run left in TIME_WAIT; the doctor must agree.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        port = server.getsockname()[1]
        client = socket.create_connection(("127.0.0.1", port))
        accepted, _ = server.accept()
        accepted.close()  # the server side closes first: its end goes to TIME_WAIT
        client.close()
    assert check_port(PortUse("control", "tcp", "127.0.0.1", port, "x", "y")).status == "ok"
