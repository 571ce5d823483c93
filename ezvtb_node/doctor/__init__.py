"""`ezvtb-node doctor`: is this machine ready to run the node? Each check says what to fix.

Public API: :func:`run_checks` → list of :class:`Check`. See docs/doctor.md.
"""

from __future__ import annotations

from pathlib import Path

from ezvtb_node.app.config import NodeConfig
from ezvtb_node.doctor import files, ports, precision, runtime, windows
from ezvtb_node.doctor.check import Check, Status
from ezvtb_node.outputs.spec import SpoutSpec, parse_output

__all__ = ["Check", "Status", "node_ports", "run_checks"]

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
        runtime.check_spout(_sends_to_spout(config)),
        runtime.check_libjpeg_turbo(),
        runtime.check_portaudio(config is None or bool(config.input.audio)),
        windows.check_vc_runtime(),
    ]
    node = config if config is not None else NodeConfig()
    gpu_backend = precision.first_gpu_backend(checks, node.core.use_tensorrt)
    checks.append(precision.check_precision(gpu_backend, node.core.model_half))
    engine_checks = files.check_engine_sets()
    have_valid_engines = any(c.status == "ok" and c.name.startswith("engines ") for c in engine_checks)
    checks.append(files.check_weights(have_valid_engines))
    checks += engine_checks
    checks += [ports.check_port(use) for use in node_ports(config)]
    if config is not None and config.input.ifacialmocap_phone:
        checks.append(windows.check_phone_firewall(config.input.ifacialmocap_phone))
    if config is None or (config.core.use_cacher and config.core.cacher_on_database):
        checks.append(files.check_cache_database(_cache_path(config)))
    return checks


def node_ports(config: NodeConfig | None) -> list[ports.PortUse]:
    """The ports the node would listen on with ``config`` (None: the defaults with iFacialMocap on
    too), as the node's own assembly computes them."""
    from ezvtb_node.app.assembly import listeners

    return listeners(config if config is not None else NodeConfig.from_keys(ifacialmocap="on"))


def _sends_to_spout(config: NodeConfig | None) -> bool:
    specs = config.output.output if config is not None else []
    return any(isinstance(parse_output(spec), SpoutSpec) for spec in specs)


def _cache_path(config: NodeConfig | None) -> Path:
    from ezvtb_node.core.cacher import default_db_path

    if config is not None and config.core.cacher_db_path:
        return Path(config.core.cacher_db_path).expanduser()
    return default_db_path()
