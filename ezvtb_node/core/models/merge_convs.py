"""Merge sibling convolutions of an ONNX graph: several small ``Conv`` nodes that read the same
tensor with the same geometry become one ``Conv`` (weights stacked along the output channels)
followed by a ``Split`` that gives back the original outputs under their original names.

Each THA3 network ends in such a group: small 3×3 convolutions over the last feature map (the
editor's 2 + 4 + 4 output channels at 512², the face morpher's five heads, the eyebrow networks'
alpha / colour / grid heads). A CPU runtime runs each one as a pass over the whole feature map;
one convolution with all the output channels reads it once. The arithmetic is unchanged: every
output channel is the same sum over the same inputs and kernel taps. OpenVINO gives bit-identical
results (tests/core/test_merge_convs.py on small graphs, test_real_tha3.py on the four THA3
stages). ONNX Runtime picks its convolution kernel by the number of output channels and fuses an
activation into a lone head's convolution, so there the last bit of a value may change (a frame
within 1/255).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # onnx is imported where a graph is edited (the export extra)
    from onnx import NodeProto

# Attributes that must match for two convolutions to share one call (with their defaults).
_GEOMETRY = {"auto_pad": b"NOTSET", "dilations": None, "group": 1, "kernel_shape": None, "pads": None,
             "strides": None}  # fmt: skip


@dataclass
class _Sibling:
    index: int  # position in graph.node
    node: NodeProto
    weight: np.ndarray  # (out, in, kh, kw)
    bias: np.ndarray | None


def merge_sibling_convs(model, max_out_channels: int = 64) -> int:
    """Merge groups of ``Conv`` nodes that share their input, in place; returns how many ``Conv``
    nodes were removed (0: the graph is unchanged).

    A Conv joins a group when its weights (and bias, if any) are initializers, it is not grouped
    (``group == 1``), and its kernel, pads, strides and dilations equal the group's. Only heads with
    at most ``max_out_channels`` output channels are merged: the small output convolutions this is
    for, not a network's wide layers. A missing bias becomes zeros (adding 0.0 changes no value).
    """
    from onnx import helper, numpy_helper

    graph = model.graph
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
    initializers = {t.name: t for t in graph.initializer}
    groups: dict[tuple, list[_Sibling]] = defaultdict(list)
    for index, node in enumerate(graph.node):
        sibling = _as_sibling(index, node, initializers, numpy_helper, max_out_channels)
        if sibling is not None:
            geometry = _geometry(node, helper)
            key = (node.input[0], str(sibling.weight.dtype), sibling.weight.shape[1:], geometry)
            groups[key].append(sibling)

    merged_at: dict[int, list] = {}  # index of a group's first Conv -> the nodes replacing the group
    dropped: set[int] = set()
    used_initializers: set[str] = set()
    for siblings in groups.values():
        if len(siblings) < 2:
            continue
        first = siblings[0]
        tag = f"{first.node.name or first.node.output[0]}__merged"
        weight = np.concatenate([s.weight for s in siblings], axis=0)
        bias = np.concatenate(
            [s.bias if s.bias is not None else np.zeros(s.weight.shape[0], s.weight.dtype) for s in siblings]
        )
        sizes = [int(s.weight.shape[0]) for s in siblings]
        graph.initializer.extend(
            [numpy_helper.from_array(weight, f"{tag}/weight"), numpy_helper.from_array(bias, f"{tag}/bias")]
        )
        attributes = {a.name: helper.get_attribute_value(a) for a in first.node.attribute}
        conv = helper.make_node(
            "Conv", [first.node.input[0], f"{tag}/weight", f"{tag}/bias"], [f"{tag}/output"],
            name=tag, **attributes,
        )  # fmt: skip
        outputs = [s.node.output[0] for s in siblings]
        if opset >= 13:  # the sizes became an input in opset 13; an attribute before
            graph.initializer.append(numpy_helper.from_array(np.array(sizes, np.int64), f"{tag}/sizes"))
            split = helper.make_node(
                "Split", [f"{tag}/output", f"{tag}/sizes"], outputs, name=f"{tag}/split", axis=1
            )
        else:
            split = helper.make_node(
                "Split", [f"{tag}/output"], outputs, name=f"{tag}/split", axis=1, split=sizes
            )
        merged_at[first.index] = [conv, split]
        for sibling in siblings:
            dropped.add(sibling.index)
            used_initializers.update(sibling.node.input[1:])
    if not dropped:
        return 0
    nodes = []
    for index, node in enumerate(graph.node):
        if index in merged_at:
            nodes.extend(merged_at[index])  # all siblings read only the shared input: safe here
        elif index not in dropped:
            nodes.append(node)
    removed = len(dropped) - len(merged_at)
    del graph.node[:]
    graph.node.extend(nodes)
    _drop_unused_initializers(graph, used_initializers)
    return removed


def _as_sibling(index: int, node, initializers: dict, numpy_helper, max_out_channels: int) -> _Sibling | None:
    if node.op_type != "Conv" or len(node.input) < 2 or len(node.output) != 1:
        return None
    if node.input[1] not in initializers or (len(node.input) > 2 and node.input[2] not in initializers):
        return None
    if any(a.name == "group" and a.i != 1 for a in node.attribute):
        return None
    weight = numpy_helper.to_array(initializers[node.input[1]])
    if weight.ndim != 4 or weight.shape[0] > max_out_channels:
        return None
    bias = (
        numpy_helper.to_array(initializers[node.input[2]]) if len(node.input) > 2 and node.input[2] else None
    )
    return _Sibling(index, node, weight, bias)


def _geometry(node, helper) -> tuple:
    attributes = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    return tuple(
        (name, tuple(value) if isinstance(value, list) else value)
        for name, default in _GEOMETRY.items()
        for value in [attributes.get(name, default)]
    )


def _drop_unused_initializers(graph, candidates: set[str]) -> None:
    still_used = {name for node in graph.node for name in node.input}
    keep = [t for t in graph.initializer if t.name not in candidates or t.name in still_used]
    if len(keep) != len(graph.initializer):
        del graph.initializer[:]
        graph.initializer.extend(keep)
