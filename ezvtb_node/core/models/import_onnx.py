"""Check and import user-supplied RIFE (frame interpolation) and SR (super-resolution) ONNX files
in the graph layout ezvtuber-rt released them (see ``layout``):

* RIFE: inputs ``tha_img_0``, ``tha_img_1`` uint8 (512,512,4) BGRA; outputs ``interpo_0 …
  interpo_{n-2}`` then ``tha_res``, each uint8 (512,512,4); one file per scale n (2, 3, 4).
* SR: one input uint8 (512,512,4) BGRA named ``x`` (waifu2x UpConv7) or ``input`` (Real-ESRGAN
  animevideo-v3); one output uint8 (512·s,512·s,4).

Files are read with OpenVINO's ONNX frontend (a base dependency), which parses the graph without
compiling it, so checking a file costs well under a second and needs no GPU runtime. Imported
files go to the store (``store.rife_model_path`` / ``store.sr_model_path``); an fp16 file whose ops
lack a float16 CUDA kernel (RIFE warps with GridSample) is stored with those ops in float32
(``fp16_islands``) where the ``onnx`` package is installed (the nvidia extra has it).
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ezvtb_node.core.models.layout import (
    FRAME_SHAPE,
    PRECISIONS,
    RIFE_INPUTS,
    RIFE_SCALES,
    SR_INPUTS,
    SR_SCALES,
    rife_output_names,
)
from ezvtb_node.core.models.store import install_model_file, rife_model_path, sr_model_path

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelInfo:
    path: Path
    kind: str  # "rife" or "sr"
    scale: int
    precision: str  # "fp32" or "fp16"
    family: str  # "rife", "waifu2x" or "realesrgan"


@dataclass(frozen=True)
class _Port:
    name: str
    dtype: str  # numpy spelling: uint8, float32, …
    shape: tuple

    def describe(self) -> str:
        return f"'{self.name}' {self.dtype} {self.shape}"


def _read(path: Path) -> tuple[list[_Port], list[_Port], bool]:
    """(inputs, outputs, has fp16 weights) of an ONNX file."""
    import openvino

    model = openvino.Core().read_model(str(path))

    def port(p) -> _Port:
        shape = tuple(d.get_length() if d.is_static else "?" for d in p.get_partial_shape())
        return _Port(p.get_any_name(), p.get_element_type().to_dtype().name, shape)

    half = any(
        op.get_type_name() == "Constant" and op.get_element_type() == openvino.Type.f16
        for op in model.get_ops()
    )
    return [port(p) for p in model.inputs], [port(p) for p in model.outputs], half


def _listing(ports: Sequence[_Port]) -> str:
    return ", ".join(p.describe() for p in ports) or "none"


def _check_frame_port(path: Path, role: str, port: _Port, shape: tuple[int, ...]) -> None:
    if port.dtype != "uint8" or port.shape != shape:
        raise ValueError(f"{path}: {role} {port.name!r} must be uint8 {shape} BGRA, found {port.describe()}")


def validate_model(path: Path | str, precision: str | None = None) -> ModelInfo:
    """Check ``path`` against the RIFE or SR layout; raise ValueError naming what was expected and
    what the file has. ``precision`` overrides what the weights say (fp16 if any are fp16)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model file not found: {path}")
    if precision is not None and precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    try:
        inputs, outputs, half = _read(path)
    except Exception as exc:  # OpenVINO raises its own exception types for unreadable graphs
        raise ValueError(f"{path}: not a loadable ONNX model ({exc})") from exc
    precision = precision or ("fp16" if half else "fp32")
    names = [p.name for p in inputs]
    if sorted(names) == sorted(RIFE_INPUTS):
        return _validate_rife(path, inputs, outputs, precision)
    if len(inputs) == 1 and names[0] in SR_INPUTS:
        return _validate_sr(path, inputs[0], outputs, precision)
    raise ValueError(
        f"{path}: unknown model layout. Expected RIFE inputs {list(RIFE_INPUTS)} or one SR input "
        f"named {' or '.join(repr(n) for n in SR_INPUTS)}; found inputs {_listing(inputs)} and "
        f"outputs {_listing(outputs)}"
    )


def _validate_rife(path: Path, inputs: list[_Port], outputs: list[_Port], precision: str) -> ModelInfo:
    for port in inputs:
        _check_frame_port(path, "input", port, FRAME_SHAPE)
    names = [p.name for p in outputs]
    scale = len(outputs)
    if scale not in RIFE_SCALES or sorted(names) != sorted(rife_output_names(scale)):
        raise ValueError(
            f"{path}: RIFE outputs must be interpo_0 … interpo_{{n-2}} then tha_res for n = 2, 3 "
            f"or 4 (e.g. {rife_output_names(2)} for x2); found {names}"
        )
    for port in outputs:
        _check_frame_port(path, "output", port, FRAME_SHAPE)
    return ModelInfo(path, "rife", scale, precision, "rife")


def _validate_sr(path: Path, inp: _Port, outputs: list[_Port], precision: str) -> ModelInfo:
    _check_frame_port(path, "input", inp, FRAME_SHAPE)
    if len(outputs) != 1:
        raise ValueError(f"{path}: an SR model must have one output, found {_listing(outputs)}")
    out = outputs[0]
    side = out.shape[0] if out.shape and isinstance(out.shape[0], int) else 0
    scale = side // FRAME_SHAPE[0]
    if scale not in SR_SCALES or out.shape != (FRAME_SHAPE[0] * scale, FRAME_SHAPE[1] * scale, 4):
        raise ValueError(
            f"{path}: SR output must be uint8 (1024, 1024, 4) for x2 or (2048, 2048, 4) for x4, "
            f"found {out.describe()}"
        )
    _check_frame_port(path, "output", out, out.shape)
    return ModelInfo(path, "sr", scale, precision, SR_INPUTS[inp.name])


def model_destination(info: ModelInfo, engines_dir: Path | None = None) -> Path:
    if info.kind == "rife":
        return rife_model_path(info.scale, info.precision, engines_dir)
    return sr_model_path(info.family, info.scale, info.precision, engines_dir)


def import_model(path: Path | str, engines_dir: Path | None = None, precision: str | None = None) -> Path:
    """Validate ``path`` and copy it into the store where the core looks for it; returns the new path."""
    info = validate_model(path, precision)
    destination = model_destination(info, engines_dir)
    with tempfile.TemporaryDirectory(prefix=".import-", dir=_existing_parent(destination)) as scratch:
        source = info.path
        if info.precision == "fp16":
            source = _with_float32_islands(info.path, Path(scratch) / info.path.name)
        return install_model_file(source, destination)


def _existing_parent(destination: Path) -> Path:
    destination.parent.mkdir(parents=True, exist_ok=True)
    return destination.parent


def _with_float32_islands(path: Path, scratch: Path) -> Path:
    """``path`` rewritten to ``scratch`` with its float16 CUDA gaps in float32, or ``path`` itself
    when it has none (or the onnx package is missing: it then runs those ops on the CPU)."""
    try:
        import onnx
    except ImportError:
        log.warning("%s: ops without a float16 CUDA kernel stay as they are (no onnx package)", path)
        return path
    from ezvtb_node.core.models.fp16_islands import compute_in_float32

    model = onnx.load(str(path))
    if not compute_in_float32(model):
        return path
    onnx.checker.check_model(model)
    onnx.save(model, str(scratch))
    return scratch
