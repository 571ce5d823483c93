"""merge_convs: sibling output convolutions run as one, with bit-identical outputs (fast: small
graphs). The real THA3 stages are checked the same way in test_real_tha3.py (slow)."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from ezvtb_node.core.models.merge_convs import merge_sibling_convs


def _conv(
    name: str, source: str, out_channels: int, in_channels: int, rng, kernel: int = 3, bias: bool = True
):
    weight = numpy_helper.from_array(
        rng.standard_normal((out_channels, in_channels, kernel, kernel)).astype(np.float32) / 8, f"{name}.w"
    )
    inits = [weight]
    inputs = [source, weight.name]
    if bias:
        inits.append(
            numpy_helper.from_array(rng.standard_normal(out_channels).astype(np.float32), f"{name}.b")
        )
        inputs.append(f"{name}.b")
    pad = kernel // 2
    node = helper.make_node("Conv", inputs, [name], name=name, kernel_shape=[kernel, kernel], pads=[pad] * 4)
    return node, inits


def network_with_heads(opset: int = 20, seed: int = 0) -> onnx.ModelProto:
    """A body convolution, then what THA3's networks end in: small 3×3 heads (with and without
    bias) on one feature map, each with its own activation; plus convolutions that must stay apart
    (another kernel size on the same map, a head on another tensor)."""
    rng = np.random.default_rng(seed)
    nodes, inits = [], []
    for node, weights in (
        _conv("body", "x", 16, 8, rng),
        _conv("color", "features", 4, 16, rng),
        _conv("grid", "features", 2, 16, rng, bias=False),
        _conv("alpha", "features", 1, 16, rng),
        _conv("wide", "features", 3, 16, rng, kernel=1),  # other geometry: stays
        _conv("side", "x", 2, 8, rng, kernel=5),  # reads x too, but not with body's geometry
    ):
        nodes.append(node)
        inits += weights
    nodes.insert(1, helper.make_node("Relu", ["body"], ["features"]))
    nodes += [
        helper.make_node("Tanh", ["color"], ["color_out"]),
        helper.make_node("Sigmoid", ["alpha"], ["alpha_out"]),
    ]
    outputs = {"color_out": 4, "grid": 2, "alpha_out": 1, "wide": 3, "side": 2}
    graph = helper.make_graph(
        nodes,
        "heads",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8, 40, 48])],
        [
            helper.make_tensor_value_info(name, TensorProto.FLOAT, [1, c, 40, 48])
            for name, c in outputs.items()
        ],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def merged(model: onnx.ModelProto) -> tuple[onnx.ModelProto, int]:
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    removed = merge_sibling_convs(copy)
    onnx.checker.check_model(copy)
    return copy, removed


def run_onnxruntime(model: onnx.ModelProto, feeds: dict) -> list[np.ndarray]:
    import onnxruntime

    session = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, feeds)


def run_openvino(model: onnx.ModelProto, feeds: dict) -> list[np.ndarray]:
    openvino = pytest.importorskip("openvino")
    core = openvino.Core()
    compiled = core.compile_model(
        core.read_model(model.SerializeToString()), "CPU", {"INFERENCE_PRECISION_HINT": "f32"}
    )
    request = compiled.create_infer_request()
    results = request.infer(feeds)
    return [np.array(results[port]) for port in compiled.outputs]


def test_heads_on_one_feature_map_become_one_convolution_with_the_same_output_names():
    model = network_with_heads()
    result, removed = merged(model)
    convs = [n for n in result.graph.node if n.op_type == "Conv"]
    assert removed == 2  # color, grid and alpha: three convolutions became one
    assert len(convs) == 4  # body, the merged heads, wide, side
    merged_conv = next(n for n in convs if n.name.endswith("__merged"))
    assert merged_conv.input[0] == "features"
    split = next(n for n in result.graph.node if n.op_type == "Split")
    assert list(split.output) == ["color", "grid", "alpha"]
    assert [o.name for o in result.graph.output] == [o.name for o in model.graph.output]
    # The replaced weights are gone from the file, the kept ones stay.
    names = {t.name for t in result.graph.initializer}
    assert "color.w" not in names and "grid.w" not in names and {"wide.w", "side.w", "body.w"} <= names


@pytest.mark.parametrize("runtime", [run_onnxruntime, run_openvino], ids=["onnxruntime", "openvino"])
@pytest.mark.parametrize("opset", [11, 20], ids=["opset11-split-attribute", "opset20-split-input"])
def test_merged_graph_gives_bit_identical_outputs(runtime, opset):
    model = network_with_heads(opset)
    result, removed = merged(model)
    assert removed == 2
    rng = np.random.default_rng(42)
    for _ in range(3):
        feeds = {"x": rng.standard_normal((1, 8, 40, 48)).astype(np.float32) * 3}
        for before, after in zip(runtime(model, feeds), runtime(result, feeds), strict=True):
            assert before.dtype == after.dtype and before.shape == after.shape
            assert np.array_equal(before, after), f"max |diff| {np.abs(before - after).max()}"


def test_merging_twice_changes_nothing_more_and_lone_convolutions_are_left_alone():
    once, _ = merged(network_with_heads())
    again, removed = merged(once)
    assert removed == 0 and again == once
    lone = network_with_heads()
    for node in [n for n in lone.graph.node if {"grid", "alpha"} & {*n.input, *n.output}]:
        lone.graph.node.remove(node)
    for output in [o for o in lone.graph.output if o.name in ("grid", "alpha_out")]:
        lone.graph.output.remove(output)
    _, removed = merged(lone)
    assert removed == 0


def test_convolutions_wider_than_the_cap_are_not_merged():
    # With a cap of 3 output channels the 4-channel colour head is not an "output head": it stays.
    model = network_with_heads()
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    assert merge_sibling_convs(copy, max_out_channels=3) == 1  # only grid (2) and alpha (1) merge
