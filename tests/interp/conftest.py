"""Tiny ONNX graphs with the RIFE / SR input-output contract (and broken variants), built with the
`onnx` helper API and run for real by ONNX Runtime.

The RIFE stand-in cross-fades (frame i at t = (i+1)/n), the SR stand-in repeats pixels: both are
easy to predict in numpy, so a test can tell that our code fed the right inputs and read the right
outputs.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
FRAME = [512, 512, 4]


def _save(graph: onnx.GraphProto, path: Path) -> Path:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def build_rife(
    path: Path,
    scale: int = 2,
    half: bool = False,
    input_names: tuple[str, str] = ("tha_img_0", "tha_img_1"),
    input_type: int = TensorProto.UINT8,
    input_shape: list[int] | None = None,
    output_names: list[str] | None = None,
    warp: bool = False,
) -> Path:
    """Cross-fading graph; `half` computes in float16 with float16 weights like the released fp16 files.
    `warp` samples the second frame along an identity grid first (GridSample, as RIFE warps frames
    along its flow), so the float types reach a GridSample."""
    float_type = TensorProto.FLOAT16 if half else TensorProto.FLOAT
    np_float = np.float16 if half else np.float32
    names = output_names or [f"interpo_{i}" for i in range(scale - 1)] + ["tha_res"]
    nodes = [
        helper.make_node("Cast", [input_names[0]], ["a"], to=float_type),
        helper.make_node("Cast", [input_names[1]], ["b" if not warp else "b_raw"], to=float_type),
    ]
    inits = []
    if warp:
        axis = np.linspace(-1.0, 1.0, FRAME[0])
        ys, xs = np.meshgrid(axis, axis, indexing="ij")
        inits += [
            numpy_helper.from_array(np.stack([xs, ys], axis=-1)[None].astype(np_float), "grid"),
            numpy_helper.from_array(np.array([0], np.int64), "batch_axis"),
        ]
        nodes += [
            helper.make_node("Transpose", ["b_raw"], ["b_chw"], perm=[2, 0, 1]),
            helper.make_node("Unsqueeze", ["b_chw", "batch_axis"], ["b_nchw"]),
            helper.make_node("GridSample", ["b_nchw", "grid"], ["b_warped"], align_corners=1),
            helper.make_node("Squeeze", ["b_warped", "batch_axis"], ["b_warped_chw"]),
            helper.make_node("Transpose", ["b_warped_chw"], ["b"], perm=[1, 2, 0]),
        ]
    for i, name in enumerate(names[:-1]):
        t = (i + 1) / scale
        inits += [numpy_helper.from_array(np.array(1 - t, np_float), f"w0_{i}"),
                  numpy_helper.from_array(np.array(t, np_float), f"w1_{i}")]  # fmt: skip
        nodes += [
            helper.make_node("Mul", ["a", f"w0_{i}"], [f"pa_{i}"]),
            helper.make_node("Mul", ["b", f"w1_{i}"], [f"pb_{i}"]),
            helper.make_node("Add", [f"pa_{i}", f"pb_{i}"], [f"sum_{i}"]),
            helper.make_node("Round", [f"sum_{i}"], [f"round_{i}"]),
            helper.make_node("Cast", [f"round_{i}"], [name], to=TensorProto.UINT8),
        ]
    nodes.append(helper.make_node("Cast", [input_names[1]], [names[-1]], to=TensorProto.UINT8))
    shape = input_shape or FRAME
    graph = helper.make_graph(
        nodes,
        "rife_standin",
        [helper.make_tensor_value_info(n, input_type, shape) for n in input_names],
        [helper.make_tensor_value_info(n, TensorProto.UINT8, FRAME) for n in names],
        inits,
    )
    return _save(graph, path)


def build_sr(path: Path, scale: int = 2, input_name: str = "x") -> Path:
    """Pixel-repeating ×scale graph on uint8 (512,512,4) BGRA."""
    nodes = [
        helper.make_node("Unsqueeze", [input_name, "axes"], ["batched"]),
        helper.make_node("Resize", ["batched", "", "scales"], ["big"], mode="nearest"),
        helper.make_node("Squeeze", ["big", "axes"], ["out"]),
    ]
    inits = [
        numpy_helper.from_array(np.array([0], np.int64), "axes"),
        numpy_helper.from_array(np.array([1, scale, scale, 1], np.float32), "scales"),
    ]
    graph = helper.make_graph(
        nodes,
        "sr_standin",
        [helper.make_tensor_value_info(input_name, TensorProto.UINT8, FRAME)],
        [helper.make_tensor_value_info("out", TensorProto.UINT8, [512 * scale, 512 * scale, 4])],
        inits,
    )
    return _save(graph, path)


@pytest.fixture
def rife_model(tmp_path: Path) -> Callable[..., Path]:
    counter = iter(range(1000))
    return lambda **kw: build_rife(tmp_path / "models" / f"rife_{next(counter)}.onnx", **kw)


@pytest.fixture
def sr_model(tmp_path: Path) -> Callable[..., Path]:
    counter = iter(range(1000))
    return lambda **kw: build_sr(tmp_path / "models" / f"sr_{next(counter)}.onnx", **kw)


@pytest.fixture
def random_frames() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    return tuple(rng.integers(0, 256, (512, 512, 4), dtype=np.uint8) for _ in range(2))
