"""Rewrites of ONNX graphs for runtimes that lack an operator the THA3 export uses, and the one
list of rewrites every stage graph gets (``rewrite_for_runtimes``: export, import and upgrade).

``AffineGrid`` (opset 20; torch's ``affine_grid``) is not supported by TensorRT's ONNX parser
(its operator matrix lists it as unsupported up to at least TensorRT 10.15), and ONNX Runtime's CPU
provider fails on it in fp16. With a constant output size it is a matrix product of ``theta``
with a constant grid of normalized pixel centres, which every runtime supports.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def rewrite_for_runtimes(model, half: bool, merge_convs: bool = True) -> int:
    """The graph rewrites of the current engine format, in place; each keeps every output value
    and is a no-op on a graph it already rewrote. Returns how many places changed.

    * AffineGrid is not in TensorRT's ONNX parser and fails in fp16 on ONNX Runtime's CPU
      provider: stored as the equivalent MatMul (``lower_affine_grid``);
    * the small output convolutions at the end of each network that read the same feature map
      run as one convolution (``merge_convs``; bit-identical, faster on CPUs);
    * in an fp16 graph (``half``), ops without a float16 CUDA kernel run in float32
      (``fp16_islands``), so ONNX Runtime keeps them on the GPU.
    """
    from ezvtb_node.core.models.fp16_islands import compute_in_float32
    from ezvtb_node.core.models.merge_convs import merge_sibling_convs

    changed = lower_affine_grid(model)
    if merge_convs:
        changed += merge_sibling_convs(model)
    if half:
        changed += compute_in_float32(model)
    return changed


def rewrite_file(source: Path, destination: Path, half: bool, merge_convs: bool = True) -> None:
    """``source`` with ``rewrite_for_runtimes`` applied, checked and saved as ``destination``: the
    exporter's graphs in place, an imported set's graphs into its upgrade's staging folder. A file
    rewritten in place is left untouched when nothing in it changed."""
    import onnx

    model = onnx.load(str(source))
    if rewrite_for_runtimes(model, half, merge_convs) or source != destination:
        onnx.checker.check_model(model)
        onnx.save(model, str(destination))


def lower_affine_grid(model) -> int:
    """Replace every 2-D ``AffineGrid`` whose ``size`` is a constant, in place. Returns how many.

    grid[n, h, w] = theta[n] @ (x_w, y_h, 1), with x/y the normalized coordinates of pixel
    centres (``align_corners=0``) or of the corner pixels (``align_corners=1``).
    """
    from onnx import helper, numpy_helper

    graph = model.graph
    constants = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value":
            constants[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
    replaced = 0
    nodes = []
    for node in graph.node:
        size = constants.get(node.input[1]) if node.op_type == "AffineGrid" else None
        if size is None or len(size) != 4:
            nodes.append(node)
            continue
        align = next((a.i for a in node.attribute if a.name == "align_corners"), 0)
        batch, _, height, width = (int(v) for v in size)
        tag = f"{node.output[0]}__lowered"
        base = _base_grid(height, width, bool(align))
        nodes += [
            helper.make_node(
                "Constant", [], [f"{tag}/base"], value=numpy_helper.from_array(base, f"{tag}/base")
            ),
            helper.make_node("CastLike", [f"{tag}/base", node.input[0]], [f"{tag}/base_typed"]),
            helper.make_node("Transpose", [node.input[0]], [f"{tag}/theta_t"], perm=[0, 2, 1]),
            helper.make_node("MatMul", [f"{tag}/base_typed", f"{tag}/theta_t"], [f"{tag}/points"]),
            helper.make_node(
                "Constant",
                [],
                [f"{tag}/shape"],
                value=numpy_helper.from_array(np.array([batch, height, width, 2], np.int64), f"{tag}/shape"),
            ),
            helper.make_node("Reshape", [f"{tag}/points", f"{tag}/shape"], [node.output[0]]),
        ]
        replaced += 1
    if replaced:
        del graph.node[:]
        graph.node.extend(nodes)
    return replaced


def _base_grid(height: int, width: int, align_corners: bool) -> np.ndarray:
    def axis(count: int) -> np.ndarray:
        if align_corners:
            return np.linspace(-1.0, 1.0, count) if count > 1 else np.zeros(1)
        return (2.0 * np.arange(count) + 1.0) / count - 1.0

    ys, xs = np.meshgrid(axis(height), axis(width), indexing="ij")
    base = np.stack([xs.ravel(), ys.ravel(), np.ones(height * width)], axis=1)
    return base.astype(np.float32)[None]  # (1, H*W, 3)
