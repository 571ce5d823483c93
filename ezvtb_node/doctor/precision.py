"""The THA3 precision the node would run here, and why (the table of core/precision.py)."""

from __future__ import annotations

from ezvtb_node.core.precision import GPU_DEFAULTS, choose_precision
from ezvtb_node.doctor.check import Check

# The GPU backend each earlier doctor check vouches for, in the core's selection order.
_GPU_ORDER = {True: ("tensorrt", "cuda", "directml"), False: ("directml", "cuda")}


def first_gpu_backend(checks: list[Check], use_tensorrt: bool) -> str | None:
    """The GPU backend the core would select, judged from the runtime checks (None: the CPU)."""
    by_name = {check.name: check for check in checks}
    usable = {
        "tensorrt": by_name.get("TensorRT") is not None and by_name["TensorRT"].status == "ok",
        "cuda": "CUDAExecutionProvider" in getattr(by_name.get("onnxruntime providers"), "detail", ""),
        "directml": "DmlExecutionProvider" in getattr(by_name.get("onnxruntime providers"), "detail", ""),
    }
    return next((name for name in _GPU_ORDER[use_tensorrt] if usable[name]), None)


def check_precision(backend: str | None, model_half: bool | str) -> Check:
    """Which precision runs on ``backend`` (None: a CPU backend) for ``model_half``, and why."""
    choice = choose_precision(backend or "cpu", model_half, gpu=backend is not None)
    where = backend or "the CPU"
    detail = f"{choice.precision} on {where}: {choice.reason}"
    table = GPU_DEFAULTS.get(backend or "")
    if choice.source == "setting" and table is not None and table.precision != choice.precision:
        return Check(
            "THA3 precision",
            "warn",
            f"{detail}; measured best on {where}: {table.precision} ({table.reason})",
            'set model_half = "auto" in node.toml (or --model-half auto) to run the measured choice',
        )
    return Check("THA3 precision", "ok", detail)
