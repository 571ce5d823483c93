"""`ezvtb-node doctor`: is this machine ready to run the node? Each check says what to fix.

Public API: :func:`run_checks` → list of :class:`Check`. See docs/doctor.md.
"""

from __future__ import annotations

from pathlib import Path

from ezvtb_node.config import NodeConfig
from ezvtb_node.doctor import files, ports, runtime
from ezvtb_node.doctor.check import Check, Status

__all__ = ["Check", "Status", "node_ports", "run_checks"]

_CONTROL_CULPRITS = "another ezvtb-node (its control endpoint)"
_BROWSER_CULPRITS = "another ezvtb-node (its browser source) or another local web server"


def run_checks(config: NodeConfig | None = None) -> list[Check]:
    """Every check, in the order a user would fix things. ``None``: the defaults, with every input on."""
    checks = [runtime.check_python()]
    checks += [runtime.check_package(package) for package in runtime.PACKAGES]
    checks += [
        runtime.check_onnxruntime_packages(),
        runtime.check_onnxruntime_providers(),
        runtime.check_cuda(),
        runtime.check_cuda_driver(),
        runtime.check_tensorrt(),
        runtime.check_directml(),
        runtime.check_spout(config is not None and any(_kind(spec) == "spout" for spec in config.output)),
        runtime.check_libjpeg_turbo(),
    ]
    engine_checks = files.check_engine_sets()
    have_valid_engines = any(c.status == "ok" and c.name.startswith("engines ") for c in engine_checks)
    checks.append(files.check_weights(have_valid_engines))
    checks += engine_checks
    checks += [ports.check_port(use) for use in node_ports(config)]
    if config is None or (config.use_cacher and config.cacher_on_database):
        checks.append(files.check_cache_database(_cache_path(config)))
    return checks


def node_ports(config: NodeConfig | None) -> list[ports.PortUse]:
    """The ports the node would listen on with ``config`` (None: every default port)."""
    from ezvtb_node.endpoints import parse_endpoint
    from ezvtb_node.inputs.ifacialmocap import DEFAULT_PORT as IFM_PORT
    from ezvtb_node.inputs.ifacialmocap import IFacialMocapReceiver
    from ezvtb_node.inputs.vmc import DEFAULT_PORT as VMC_PORT
    from ezvtb_node.inputs.vmc import VmcReceiver
    from ezvtb_node.outputs import make_sink

    defaults = NodeConfig()
    vmc = config.vmc if config else defaults.vmc
    ifm = config.ifacialmocap if config else f"127.0.0.1:{IFM_PORT}"
    control = config.control if config else defaults.control
    outputs = config.output if config else ["browser"]
    uses = []
    if (vmc_endpoint := parse_endpoint(vmc, "127.0.0.1", VMC_PORT, "vmc")) is not None:
        host, port = vmc_endpoint
        uses.append(
            ports.PortUse("VMC", "udp", host, port, VmcReceiver.PORT_CULPRITS, "set another port with --vmc")
        )
    if (ifm_endpoint := parse_endpoint(ifm, "0.0.0.0", IFM_PORT, "ifacialmocap")) is not None:
        host, port = ifm_endpoint
        uses.append(
            ports.PortUse(
                "iFacialMocap",
                "udp",
                host,
                port,
                IFacialMocapReceiver.PORT_CULPRITS,
                "set another port with --ifacialmocap HOST:PORT",
            )
        )
    for spec in outputs:
        if _kind(spec) == "browser":
            server = make_sink(spec).server
            uses.append(
                ports.PortUse(
                    "browser source",
                    "tcp",
                    server.host,
                    server.port,
                    _BROWSER_CULPRITS,
                    "set another port with --output browser:HOST:PORT",
                )
            )
    if (control_endpoint := parse_endpoint(control, "127.0.0.1", 8766, "control")) is not None:
        host, port = control_endpoint
        uses.append(
            ports.PortUse(
                "control", "tcp", host, port, _CONTROL_CULPRITS, "set another port with --control HOST:PORT"
            )
        )
    return [use for use in uses if use.port != 0]


def _kind(spec: str) -> str:
    return spec.strip().partition(":")[0].lower()


def _cache_path(config: NodeConfig | None) -> Path:
    from ezvtb_node.core.cacher import default_db_path

    if config is not None and config.cacher_db_path:
        return Path(config.cacher_db_path).expanduser()
    return default_db_path()
