"""benchmarks/gpu.py counts ONNX Runtime's Memcpy nodes in the serialized graphs it writes."""

import shutil

import onnx
from onnx import TensorProto, helper

from benchmarks.gpu import memcpy_nodes
from ezvtb_node.core.tha import STAGES


def graph_with(op_types: list[str]) -> onnx.ModelProto:
    """A chain of nodes of the given types; every node is *named* like a Memcpy node, so only the
    op_type field may be counted."""
    nodes = [
        helper.make_node(op, [f"t{i}"], [f"t{i + 1}"], name=f"MemcpyToHost_{i}")
        for i, op in enumerate(op_types)
    ]
    first = helper.make_tensor_value_info("t0", TensorProto.FLOAT, [1])
    last = helper.make_tensor_value_info(f"t{len(op_types)}", TensorProto.FLOAT, [1])
    return helper.make_model(helper.make_graph(nodes, "g", [first], [last]))


class WritesGraphs:
    """A backend whose optimized graph of each stage is a prepared file (ONNX Runtime writes one
    like it when SessionOptions.optimized_model_filepath is set)."""

    def __init__(self, folder):
        self.folder = folder

    def optimized_graph(self, path, target):
        shutil.copy(self.folder / path.name, target)


class Engine:
    def __init__(self, folder):
        self.folder = folder

    def stage_path(self, stage):
        return self.folder / f"{stage}.onnx"


def test_memcpy_nodes_are_counted_by_op_type_per_stage(tmp_path):
    ops = {
        "image": ["Relu"],
        "eyebrow": ["MemcpyFromHost", "Relu", "MemcpyToHost"],
        "face": ["Relu", "Identity"],
        "body": ["MemcpyFromHost", "GridSample", "MemcpyToHost", "MemcpyFromHost", "MemcpyToHost"],
    }
    for stage in STAGES:
        onnx.save(graph_with(ops[stage]), tmp_path / f"{stage}.onnx")
    assert memcpy_nodes(WritesGraphs(tmp_path), Engine(tmp_path)) == "image:0 eyebrow:2 face:0 body:4"


def test_backends_without_onnx_runtime_graphs_show_a_dash():
    assert memcpy_nodes(object(), None) == "-"
