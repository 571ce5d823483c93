"""Tiny ONNX graphs with the exact input/output contract of the four THA3 stages.

They run in milliseconds, so the core's logic (validation, caching, reuse of outputs, backends)
is tested fast; the real exported THA3 is exercised by the tests marked ``slow``.
The arithmetic is simple enough to predict a frame from its pose:
``bgra = clip(image/255 * 255 + 10*sum(rotation_pose) + 100*mean(face_pose) + 50*mean(eyebrow_pose))``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper

from ezvtb_node.core.engines import MANIFEST, STAGE_FILES, sha256_file

F = TensorProto.FLOAT


def _const(name: str, value) -> onnx.NodeProto:
    array = np.asarray(value)
    return helper.make_node("Constant", [], [name], value=onnx.numpy_helper.from_array(array, name))


def _model(nodes, inputs, outputs) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "tiny", inputs, outputs)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def _io(name: str, elem, shape):
    return helper.make_tensor_value_info(name, elem, shape)


def image_stage() -> onnx.ModelProto:
    nodes = [
        helper.make_node("Cast", ["input_image"], ["f"], to=F),
        _const("k255", np.float32(255.0)),
        helper.make_node("Div", ["f", "k255"], ["unit"]),
        helper.make_node("Transpose", ["unit"], ["chw"], perm=[2, 0, 1]),
        _const("axis0", np.array([0], np.int64)),
        helper.make_node("Unsqueeze", ["chw", "axis0"], ["image_prepared"]),
        _const("starts", np.array([64, 192], np.int64)),
        _const("ends", np.array([192, 320], np.int64)),
        _const("axes", np.array([2, 3], np.int64)),
        helper.make_node("Slice", ["image_prepared", "starts", "ends", "axes"], ["background_layer"]),
        _const("half", np.float32(0.5)),
        helper.make_node("Mul", ["background_layer", "half"], ["eyebrow_layer"]),
    ]
    return _model(
        nodes,
        [_io("input_image", TensorProto.UINT8, [512, 512, 4])],
        [
            _io("image_prepared", F, [1, 4, 512, 512]),
            _io("background_layer", F, [1, 4, 128, 128]),
            _io("eyebrow_layer", F, [1, 4, 128, 128]),
        ],
    )


def eyebrow_stage() -> onnx.ModelProto:
    nodes = [
        helper.make_node("ReduceMean", ["eyebrow_pose"], ["pose_mean"], keepdims=0),
        helper.make_node("Sub", ["background_layer", "eyebrow_layer"], ["diff"]),
        helper.make_node("Add", ["diff", "pose_mean"], ["eyebrow_image"]),
    ]
    return _model(
        nodes,
        [
            _io("background_layer", F, [1, 4, 128, 128]),
            _io("eyebrow_layer", F, [1, 4, 128, 128]),
            _io("eyebrow_pose", F, [1, 12]),
        ],
        [_io("eyebrow_image", F, [1, 4, 128, 128])],
    )


def face_stage() -> onnx.ModelProto:
    # eyebrow_image = 0.5*image patch + mean(eyebrow_pose); only its pose part is added globally
    # (mean(eyebrow_image) - mean(0.5*patch) would need the image: keep it simple and exact).
    nodes = [
        helper.make_node("ReduceMean", ["face_pose"], ["face_mean"], keepdims=0),
        _const("k100", np.float32(100.0 / 255.0)),
        helper.make_node("Mul", ["face_mean", "k100"], ["face_shift"]),
        helper.make_node("ReduceMin", ["eyebrow_image"], ["eb_min"], keepdims=0),
        _const("k50", np.float32(50.0 / 255.0)),
        helper.make_node("Mul", ["eb_min", "k50"], ["eb_shift"]),
        helper.make_node("Add", ["image_prepared", "face_shift"], ["a"]),
        helper.make_node("Add", ["a", "eb_shift"], ["face_morphed_full"]),
        _const("s0", np.array([0, 0], np.int64)),
        _const("s1", np.array([512, 512], np.int64)),
        _const("ax", np.array([2, 3], np.int64)),
        _const("st", np.array([2, 2], np.int64)),
        helper.make_node("Slice", ["face_morphed_full", "s0", "s1", "ax", "st"], ["face_morphed_half"]),
    ]
    return _model(
        nodes,
        [
            _io("image_prepared", F, [1, 4, 512, 512]),
            _io("eyebrow_image", F, [1, 4, 128, 128]),
            _io("face_pose", F, [1, 27]),
        ],
        [_io("face_morphed_full", F, [1, 4, 512, 512]), _io("face_morphed_half", F, [1, 4, 256, 256])],
    )


def body_stage() -> onnx.ModelProto:
    nodes = [
        helper.make_node("ReduceSum", ["rotation_pose"], ["rot_sum"], keepdims=0),
        _const("k10", np.float32(10.0 / 255.0)),
        helper.make_node("Mul", ["rot_sum", "k10"], ["rot_shift"]),
        helper.make_node("ReduceMin", ["face_morphed_half"], ["half_min"], keepdims=0),
        helper.make_node("Sub", ["half_min", "half_min"], ["zero"]),
        helper.make_node("Add", ["face_morphed_full", "rot_shift"], ["a"]),
        helper.make_node("Add", ["a", "zero"], ["b"]),
        _const("axis0", np.array([0], np.int64)),
        helper.make_node("Squeeze", ["b", "axis0"], ["chw"]),
        helper.make_node("Transpose", ["chw"], ["hwc"], perm=[1, 2, 0]),
        _const("k255", np.float32(255.0)),
        helper.make_node("Mul", ["hwc", "k255"], ["scaled"]),
        helper.make_node("Round", ["scaled"], ["rounded"]),
        _const("lo", np.float32(0.0)),
        _const("hi", np.float32(255.0)),
        helper.make_node("Clip", ["rounded", "lo", "hi"], ["clipped"]),
        helper.make_node("Cast", ["clipped"], ["bgra"], to=TensorProto.UINT8),
    ]
    return _model(
        nodes,
        [
            _io("face_morphed_full", F, [1, 4, 512, 512]),
            _io("face_morphed_half", F, [1, 4, 256, 256]),
            _io("rotation_pose", F, [1, 6]),
        ],
        [_io("bgra", TensorProto.UINT8, [512, 512, 4])],
    )


def expected_frame(image: np.ndarray, pose: np.ndarray) -> np.ndarray:
    """What the tiny graphs compute, in numpy (image already zeroed where alpha is 0)."""
    pose = pose.reshape(45).astype(np.float32)
    patch = image[64:192, 192:320].astype(np.float32) / 255.0
    eyebrow_min = float((0.5 * patch).min() + pose[0:12].mean())
    shift = 100.0 * pose[12:39].mean() + 50.0 * eyebrow_min + 10.0 * pose[39:45].sum()
    return np.clip(np.round(image.astype(np.float32) + shift), 0, 255).astype(np.uint8)


def write_tiny_engine(folder: Path) -> Path:
    """Write the four tiny stage files and a manifest like the real builder's."""
    folder.mkdir(parents=True, exist_ok=True)
    builders = {"image": image_stage, "eyebrow": eyebrow_stage, "face": face_stage, "body": body_stage}
    for stage, build in builders.items():
        onnx.save(build(), str(folder / STAGE_FILES[stage]))
    manifest = {
        "export_format": 1,
        "variant": "separable",
        "precision": "fp32",
        "files": {stage: sha256_file(folder / name) for stage, name in STAGE_FILES.items()},
    }
    (folder / MANIFEST).write_text(json.dumps(manifest))
    return folder
