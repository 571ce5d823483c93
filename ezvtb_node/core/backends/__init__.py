"""Runtimes that execute the stage graphs: one module per runtime, chosen from a table.

``base`` holds what every runtime provides (the protocols, ``BackendUnavailable``), ``selection``
the table of runtimes and the orders they are tried in; the runtime modules (``openvino``,
``onnxruntime``, ``tensorrt``) import ``base`` only. The names callers use are re-exported here.
"""

from ezvtb_node.core.backends.base import Backend, BackendUnavailable, StageRunner, to_host
from ezvtb_node.core.backends.selection import (
    Selection,
    fail_over,
    make_backend,
    make_cpu_backend,
    select_backend,
)

__all__ = [
    "Backend",
    "BackendUnavailable",
    "Selection",
    "StageRunner",
    "fail_over",
    "make_backend",
    "make_cpu_backend",
    "select_backend",
    "to_host",
]
