"""The AffineGrid rewrite equals ONNX Runtime's own AffineGrid."""

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from ezvtb_node.core.models.lowering import lower_affine_grid


@pytest.mark.parametrize("align_corners", [0, 1])
def test_matches_onnx_runtime_affine_grid(align_corners):
    size = numpy_helper.from_array(np.array([2, 3, 5, 7], np.int64), "size")
    graph = helper.make_graph(
        [
            helper.make_node("Constant", [], ["size"], value=size),
            helper.make_node("AffineGrid", ["theta", "size"], ["grid"], align_corners=align_corners),
        ],
        "g",
        [helper.make_tensor_value_info("theta", TensorProto.FLOAT, [2, 2, 3])],
        [helper.make_tensor_value_info("grid", TensorProto.FLOAT, [2, 5, 7, 2])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)])
    theta = np.random.default_rng(0).normal(size=(2, 2, 3)).astype(np.float32)
    expected = ort.InferenceSession(model.SerializeToString()).run(None, {"theta": theta})[0]
    assert lower_affine_grid(model) == 1
    assert "AffineGrid" not in {node.op_type for node in model.graph.node}
    onnx.checker.check_model(model)
    lowered = ort.InferenceSession(model.SerializeToString()).run(None, {"theta": theta})[0]
    np.testing.assert_allclose(lowered, expected, atol=1e-6)
