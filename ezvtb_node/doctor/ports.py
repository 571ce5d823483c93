"""Are the node's ports free? Probe by binding the same way the node will, and name who holds them."""

from __future__ import annotations

from ezvtb_node.doctor.check import Check
from ezvtb_node.endpoints import PortUse, port_problem

__all__ = ["PortUse", "check_port"]


def check_port(use: PortUse) -> Check:
    name = f"port {use.protocol.upper()} {use.port} ({use.label})"
    problem = port_problem(use)
    if problem is None:
        return Check(name, "ok", f"{use.host}:{use.port} is free")
    detail, fix = problem
    return Check(name, "warn", detail, fix)
