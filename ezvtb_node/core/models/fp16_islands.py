"""Operators ONNX Runtime's CUDA provider cannot run in float16, and the rewrite that runs them in
float32 inside an fp16 graph (an "fp32 island": Cast in, the node in float32, Cast out).

A node whose float16 kernel is missing is assigned to the CPU provider, with device-host copies
around it (Memcpy nodes). On an H200 every GridSample of the fp16 body graph ran on the CPU:
78 ms/frame in fp16 against 9.3 ms in fp32 (issue 21). With its inputs cast to float32 the node
has a CUDA kernel and the frame never leaves the GPU. The pixels do not change on a CPU: ONNX
Runtime's CPU provider has no float16 GridSample either and inserts the same casts itself
(InsertCastTransformer), and OpenVINO computes such nodes in float32.

The one list of these operators is ``NO_FLOAT16_CUDA_KERNEL``, read from ONNX Runtime's sources:
``docs/OperatorKernels.md``, section CUDAExecutionProvider (generated from the kernel
registrations in ``onnxruntime/core/providers/cuda/cuda_execution_provider.cc`` and
``onnxruntime/contrib_ops/cuda/cuda_contrib_kernels.cc``), microsoft/onnxruntime main at commit
001d12d2623f (it registers ONNX opset 25 kernels: ORT 1.23 or later). The GridSample rows are
``[16, 19]``, ``[20, 21]`` and ``22+``, each ``T1 = tensor(float), T2 = tensor(float)``; the
com.microsoft GridSample is registered for float only as well (``cuda_contrib_kernels.cc``). The
issue's H200 run (onnxruntime-gpu 1.31.1) showed the same: fp16 GridSample on the CPU.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

#: ai.onnx operators with a float input whose CUDA kernels lack float16 in these opset ranges
#: (first, last; ``math.inf`` = every later opset). Ops with no CUDA kernel at all are not
#: listed: a cast does not help them (the exporter lowers the one THA3 needs, AffineGrid).
NO_FLOAT16_CUDA_KERNEL: dict[str, tuple[tuple[int, float], ...]] = {
    "GridSample": ((16, math.inf),),  # T1, T2 = float only in [16, 19], [20, 21], 22+
    "Range": ((11, math.inf),),  # double, float, int16, int32, int64
    "RoiAlign": ((10, math.inf),),  # T1 = double, float
    "EyeLike": ((9, math.inf),),  # double, float, int32, int64, uint64
    "Clip": ((6, 11),),  # float only before opset 12
    "CumSum": ((11, 13),),  # float16 from opset 14
    "Equal": ((7, 10),),  # bool, int32, int64 before opset 11
    "IsInf": ((10, 19),),  # double, float before opset 20
}

_FLOAT16 = 10  # onnx.TensorProto.FLOAT16
_FLOAT = 1  # onnx.TensorProto.FLOAT


@dataclass(frozen=True)
class Float16Gap:
    """A node that would leave the GPU: its op has no float16 CUDA kernel at the graph's opset
    and at least one of its inputs is float16."""

    node: str
    op_type: str
    float16_inputs: tuple[str, ...]


def lacks_float16_cuda_kernel(op_type: str, opset: int) -> bool:
    return any(first <= opset <= last for first, last in NO_FLOAT16_CUDA_KERNEL.get(op_type, ()))


def float16_gaps(model, types: dict[str, int] | None = None) -> list[Float16Gap]:
    """Every node of ``model`` (main graph, default domain) that ONNX Runtime's CUDA provider
    would hand to the CPU because it reads float16. Empty for a graph that stays on the GPU.
    ``types``: the element type of each tensor, when the caller has inferred them already."""
    opset = _default_opset(model)
    types = _tensor_types(model) if types is None else types
    gaps = []
    for index, node in enumerate(model.graph.node):
        if node.domain not in ("", "ai.onnx") or not lacks_float16_cuda_kernel(node.op_type, opset):
            continue
        half = tuple(name for name in node.input if name and types.get(name) == _FLOAT16)
        if half:
            gaps.append(Float16Gap(node.name or f"#{index}", node.op_type, half))
    return gaps


def compute_in_float32(model) -> int:
    """Run every node of ``float16_gaps(model)`` in float32, in place: its float16 inputs are cast
    to float32 and its float16 outputs are computed in float32 and cast back, so every consumer
    sees the same names and types. Returns how many nodes changed (0 for an fp32 graph, and for a
    graph already rewritten: the rewrite is idempotent)."""
    from onnx import helper

    types = _tensor_types(model)
    gaps = {gap.node for gap in float16_gaps(model, types)}
    if not gaps:
        return 0
    graph = model.graph
    rewritten = []
    for index, node in enumerate(graph.node):
        name = node.name or f"#{index}"
        if name not in gaps:
            rewritten.append(node)
            continue
        tag = f"{name}/fp32"
        inputs = []
        for position, tensor in enumerate(node.input):
            if tensor and types.get(tensor) == _FLOAT16:
                cast = f"{tag}/in{position}"
                rewritten.append(helper.make_node("Cast", [tensor], [cast], name=cast, to=_FLOAT))
                inputs.append(cast)
            else:
                inputs.append(tensor)
        outputs, casts_back = [], []
        for position, tensor in enumerate(node.output):
            if tensor and types.get(tensor) == _FLOAT16:
                wide = f"{tag}/out{position}"
                casts_back.append(
                    helper.make_node("Cast", [wide], [tensor], name=f"{wide}/to_fp16", to=_FLOAT16)
                )
                outputs.append(wide)
            else:
                outputs.append(tensor)
        node.input[:] = inputs
        node.output[:] = outputs
        rewritten += [node, *casts_back]
    del graph.node[:]
    graph.node.extend(rewritten)
    return len(gaps)


def _default_opset(model) -> int:
    return next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 1)


def _tensor_types(model) -> dict[str, int]:
    """The element type of every tensor of the main graph, from ONNX shape inference."""
    from onnx import shape_inference

    inferred = shape_inference.infer_shapes(model, strict_mode=False)
    graph = inferred.graph
    types = {t.name: t.data_type for t in graph.initializer}
    for info in (*graph.input, *graph.value_info, *graph.output):
        if info.type.HasField("tensor_type") and info.type.tensor_type.elem_type:
            types[info.name] = info.type.tensor_type.elem_type
    for node in graph.node:
        if node.op_type == "Constant":
            for attribute in node.attribute:
                if attribute.name == "value":
                    types[node.output[0]] = attribute.t.data_type
    return types
