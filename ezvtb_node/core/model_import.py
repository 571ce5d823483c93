"""Checking and importing user-supplied ONNX files for frame interpolation (RIFE) and
super-resolution (waifu2x, Real-ESRGAN), in the graph layout ezvtuber-rt released them:

* RIFE: inputs `tha_img_0`, `tha_img_1` uint8 (512,512,4) BGRA; outputs `interpo_0 …
  interpo_{n-2}` then `tha_res`, each uint8 (512,512,4); one file per scale n (2, 3, 4).
* SR: one input uint8 (512,512,4) BGRA named `x` (waifu2x UpConv7) or `input` (Real-ESRGAN
  animevideo-v3); one output uint8 (512·s,512·s,4).

Imported files land in `engines_dir()/rife_512/x{n}/{fp32,fp16}.onnx` (the released layout) and
`engines_dir()/sr/{waifu2x,realesrgan}_x{s}/{fp32,fp16}.onnx`.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ezvtb_node.paths import engines_dir as default_engines_dir

FRAME_SHAPE = (512, 512, 4)
RIFE_INPUTS = ("tha_img_0", "tha_img_1")
SR_INPUTS = {"x": "waifu2x", "input": "realesrgan"}
PRECISIONS = ("fp32", "fp16")
_UINT8 = "tensor(uint8)"

if TYPE_CHECKING:
    import onnxruntime as ort


def _onnxruntime():
    """The onnxruntime module, imported on first use: the base install has no ONNX Runtime (OpenVINO
    runs the CPU), so importing this module must not need it. Raises ImportError saying what to install."""
    try:
        import onnxruntime
    except ImportError as exc:
        raise ImportError(
            "RIFE and SR models run on ONNX Runtime, which is not installed: install one ONNX Runtime "
            "package, pip install 'ezvtb-node[onnxruntime]' (CPU), '[nvidia]' or '[directml]'"
        ) from exc
    return onnxruntime


def rife_output_names(scale: int) -> list[str]:
    return [f"interpo_{i}" for i in range(scale - 1)] + ["tha_res"]


@dataclass(frozen=True)
class ModelInfo:
    path: Path
    kind: str  # "rife" or "sr"
    scale: int
    precision: str  # "fp32" or "fp16"
    family: str  # "rife", "waifu2x" or "realesrgan"


def open_session(path: Path, providers: Sequence[str] | None = None) -> ort.InferenceSession:
    """An ONNX Runtime session with all graph optimisations, on `providers` (default: CPU)."""
    ort = _onnxruntime()
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(str(path), options, providers=list(providers or ["CPUExecutionProvider"]))


def _describe(arg: ort.NodeArg) -> str:
    return f"'{arg.name}' {arg.type.removeprefix('tensor(').removesuffix(')')} {tuple(arg.shape)}"


def _listing(args: Sequence[ort.NodeArg]) -> str:
    return ", ".join(_describe(a) for a in args) or "none"


def _check_frame_arg(path: Path, role: str, arg: ort.NodeArg, shape: tuple[int, ...]) -> None:
    if arg.type != _UINT8 or tuple(arg.shape) != shape:
        raise ValueError(f"{path}: {role} {arg.name!r} must be uint8 {shape} BGRA, found {_describe(arg)}")


def _precision(path: Path, declared: str | None) -> str:
    """fp16 or fp32: as declared, else from the weights when the `onnx` package is installed,
    else from the file's path (the released files are named fp16.onnx / fp32.onnx)."""
    if declared is not None:
        if declared not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {declared!r}")
        return declared
    try:
        import onnx
    except ImportError:
        return "fp16" if "fp16" in path.as_posix().lower() else "fp32"
    model = onnx.load(str(path), load_external_data=False)
    types = {init.data_type for init in model.graph.initializer}
    return "fp16" if onnx.TensorProto.FLOAT16 in types else "fp32"


def validate_model(path: Path | str, precision: str | None = None) -> ModelInfo:
    """Open `path` with ONNX Runtime and check its inputs and outputs against the RIFE or SR
    layout; raise ValueError naming what was expected and what the file has."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model file not found: {path}")
    _onnxruntime()  # a missing runtime is not a bad file: let its own error through
    try:
        session = open_session(path)
    except Exception as exc:  # ORT raises its own exception types for unreadable graphs
        raise ValueError(f"{path}: not a loadable ONNX model ({exc})") from exc
    inputs, outputs = session.get_inputs(), session.get_outputs()
    input_names = [a.name for a in inputs]
    if sorted(input_names) == sorted(RIFE_INPUTS):
        return _validate_rife(path, session, _precision(path, precision))
    if len(inputs) == 1 and input_names[0] in SR_INPUTS:
        return _validate_sr(path, session, _precision(path, precision))
    raise ValueError(
        f"{path}: unknown model layout. Expected RIFE inputs {list(RIFE_INPUTS)} or one SR input "
        f"named {' or '.join(repr(n) for n in SR_INPUTS)}; found inputs {_listing(inputs)} and "
        f"outputs {_listing(outputs)}"
    )


def _validate_rife(path: Path, session: ort.InferenceSession, precision: str) -> ModelInfo:
    for arg in session.get_inputs():
        _check_frame_arg(path, "input", arg, FRAME_SHAPE)
    outputs = session.get_outputs()
    names = [a.name for a in outputs]
    scale = len(outputs)
    if scale not in (2, 3, 4) or sorted(names) != sorted(rife_output_names(scale)):
        raise ValueError(
            f"{path}: RIFE outputs must be interpo_0 … interpo_{{n-2}} then tha_res for n = 2, 3 "
            f"or 4 (e.g. {rife_output_names(2)} for x2); found {names}"
        )
    for arg in outputs:
        _check_frame_arg(path, "output", arg, FRAME_SHAPE)
    return ModelInfo(path, "rife", scale, precision, "rife")


def _validate_sr(path: Path, session: ort.InferenceSession, precision: str) -> ModelInfo:
    (inp,) = session.get_inputs()
    _check_frame_arg(path, "input", inp, FRAME_SHAPE)
    outputs = session.get_outputs()
    if len(outputs) != 1:
        raise ValueError(f"{path}: an SR model must have one output, found {_listing(outputs)}")
    out = outputs[0]
    shape = tuple(out.shape)
    scale = shape[0] // FRAME_SHAPE[0] if shape and isinstance(shape[0], int) else 0
    if scale not in (2, 4) or shape != (FRAME_SHAPE[0] * scale, FRAME_SHAPE[1] * scale, 4):
        raise ValueError(
            f"{path}: SR output must be uint8 (1024, 1024, 4) for x2 or (2048, 2048, 4) for x4, "
            f"found {_describe(out)}"
        )
    _check_frame_arg(path, "output", out, shape)
    return ModelInfo(path, "sr", scale, precision, SR_INPUTS[inp.name])


def model_destination(info: ModelInfo, engines_dir: Path | None = None) -> Path:
    root = Path(engines_dir) if engines_dir is not None else default_engines_dir()
    if info.kind == "rife":
        return root / "rife_512" / f"x{info.scale}" / f"{info.precision}.onnx"
    return root / "sr" / f"{info.family}_x{info.scale}" / f"{info.precision}.onnx"


def import_model(path: Path | str, engines_dir: Path | None = None, precision: str | None = None) -> Path:
    """Validate `path` and copy it to where the node looks for it; returns the new path.

    The copy goes to a temporary file first and then replaces the destination in one step, so a
    failed copy never leaves a broken model where a working one was."""
    info = validate_model(path, precision)
    dest = model_destination(info, engines_dir)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, suffix=".part")
    os.close(fd)
    try:
        shutil.copyfile(info.path, tmp)
        os.replace(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return dest


def _prefer(candidates: dict[str, Path], half: bool) -> Path | None:
    order = ("fp16", "fp32") if half else ("fp32", "fp16")
    return next((candidates[p] for p in order if candidates[p].is_file()), None)


def find_rife_model(scale: int, half: bool, engines_dir: Path | None = None) -> Path | None:
    """The imported RIFE file for `scale`, the requested precision first."""
    root = Path(engines_dir) if engines_dir is not None else default_engines_dir()
    folder = root / "rife_512" / f"x{scale}"
    return _prefer({p: folder / f"{p}.onnx" for p in PRECISIONS}, half)


def find_sr_model(family: str, scale: int, half: bool, engines_dir: Path | None = None) -> Path | None:
    """The imported SR file of `family` ("waifu2x" / "realesrgan") for `scale`."""
    root = Path(engines_dir) if engines_dir is not None else default_engines_dir()
    folder = root / "sr" / f"{family}_x{scale}"
    return _prefer({p: folder / f"{p}.onnx" for p in PRECISIONS}, half)
