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

from ezvtb_node.core.models.layout import MANIFEST, STAGE_FILES
from ezvtb_node.core.models.store import sha256_file

F = TensorProto.FLOAT


def const_node(name: str, value) -> onnx.NodeProto:
    array = np.asarray(value)
    return helper.make_node("Constant", [], [name], value=onnx.numpy_helper.from_array(array, name))


def tiny_model(nodes, inputs, outputs) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "tiny", inputs, outputs)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def io_info(name: str, elem, shape):
    return helper.make_tensor_value_info(name, elem, shape)


def bgra_nodes(source: str, output: str) -> list[onnx.NodeProto]:
    """(1,4,H,W) floats in [0, 1] → uint8 (H,W,4), rounded and clipped like the real body stage."""
    return [
        const_node(f"{output}_axis0", np.array([0], np.int64)),
        helper.make_node("Squeeze", [source, f"{output}_axis0"], [f"{output}_chw"]),
        helper.make_node("Transpose", [f"{output}_chw"], [f"{output}_hwc"], perm=[1, 2, 0]),
        const_node(f"{output}_k255", np.float32(255.0)),
        helper.make_node("Mul", [f"{output}_hwc", f"{output}_k255"], [f"{output}_scaled"]),
        helper.make_node("Round", [f"{output}_scaled"], [f"{output}_rounded"]),
        const_node(f"{output}_lo", np.float32(0.0)),
        const_node(f"{output}_hi", np.float32(255.0)),
        helper.make_node(
            "Clip", [f"{output}_rounded", f"{output}_lo", f"{output}_hi"], [f"{output}_clipped"]
        ),
        helper.make_node("Cast", [f"{output}_clipped"], [output], to=TensorProto.UINT8),
    ]


def image_stage() -> onnx.ModelProto:
    nodes = [
        helper.make_node("Cast", ["input_image"], ["f"], to=F),
        const_node("k255", np.float32(255.0)),
        helper.make_node("Div", ["f", "k255"], ["unit"]),
        helper.make_node("Transpose", ["unit"], ["chw"], perm=[2, 0, 1]),
        const_node("axis0", np.array([0], np.int64)),
        helper.make_node("Unsqueeze", ["chw", "axis0"], ["image_prepared"]),
        const_node("starts", np.array([64, 192], np.int64)),
        const_node("ends", np.array([192, 320], np.int64)),
        const_node("axes", np.array([2, 3], np.int64)),
        helper.make_node("Slice", ["image_prepared", "starts", "ends", "axes"], ["background_layer"]),
        const_node("half", np.float32(0.5)),
        helper.make_node("Mul", ["background_layer", "half"], ["eyebrow_layer"]),
    ]
    return tiny_model(
        nodes,
        [io_info("input_image", TensorProto.UINT8, [512, 512, 4])],
        [
            io_info("image_prepared", F, [1, 4, 512, 512]),
            io_info("background_layer", F, [1, 4, 128, 128]),
            io_info("eyebrow_layer", F, [1, 4, 128, 128]),
        ],
    )


def eyebrow_stage() -> onnx.ModelProto:
    nodes = [
        helper.make_node("ReduceMean", ["eyebrow_pose"], ["pose_mean"], keepdims=0),
        helper.make_node("Sub", ["background_layer", "eyebrow_layer"], ["diff"]),
        helper.make_node("Add", ["diff", "pose_mean"], ["eyebrow_image"]),
    ]
    return tiny_model(
        nodes,
        [
            io_info("background_layer", F, [1, 4, 128, 128]),
            io_info("eyebrow_layer", F, [1, 4, 128, 128]),
            io_info("eyebrow_pose", F, [1, 12]),
        ],
        [io_info("eyebrow_image", F, [1, 4, 128, 128])],
    )


def face_stage() -> onnx.ModelProto:
    # eyebrow_image = 0.5*image patch + mean(eyebrow_pose); only its pose part is added globally
    # (mean(eyebrow_image) - mean(0.5*patch) would need the image: keep it simple and exact).
    nodes = [
        helper.make_node("ReduceMean", ["face_pose"], ["face_mean"], keepdims=0),
        const_node("k100", np.float32(100.0 / 255.0)),
        helper.make_node("Mul", ["face_mean", "k100"], ["face_shift"]),
        helper.make_node("ReduceMin", ["eyebrow_image"], ["eb_min"], keepdims=0),
        const_node("k50", np.float32(50.0 / 255.0)),
        helper.make_node("Mul", ["eb_min", "k50"], ["eb_shift"]),
        helper.make_node("Add", ["image_prepared", "face_shift"], ["a"]),
        helper.make_node("Add", ["a", "eb_shift"], ["face_morphed_full"]),
        const_node("s0", np.array([0, 0], np.int64)),
        const_node("s1", np.array([512, 512], np.int64)),
        const_node("ax", np.array([2, 3], np.int64)),
        const_node("st", np.array([2, 2], np.int64)),
        helper.make_node("Slice", ["face_morphed_full", "s0", "s1", "ax", "st"], ["face_morphed_half"]),
    ]
    return tiny_model(
        nodes,
        [
            io_info("image_prepared", F, [1, 4, 512, 512]),
            io_info("eyebrow_image", F, [1, 4, 128, 128]),
            io_info("face_pose", F, [1, 27]),
        ],
        [
            io_info("face_morphed_full", F, [1, 4, 512, 512]),
            io_info("face_morphed_half", F, [1, 4, 256, 256]),
        ],
    )


def body_stage() -> onnx.ModelProto:
    nodes = [
        helper.make_node("ReduceSum", ["rotation_pose"], ["rot_sum"], keepdims=0),
        const_node("k10", np.float32(10.0 / 255.0)),
        helper.make_node("Mul", ["rot_sum", "k10"], ["rot_shift"]),
        helper.make_node("ReduceMin", ["face_morphed_half"], ["half_min"], keepdims=0),
        helper.make_node("Sub", ["half_min", "half_min"], ["zero"]),
        helper.make_node("Add", ["face_morphed_full", "rot_shift"], ["a"]),
        helper.make_node("Add", ["a", "zero"], ["b"]),
        *bgra_nodes("b", "bgra"),
    ]
    return tiny_model(
        nodes,
        [
            io_info("face_morphed_full", F, [1, 4, 512, 512]),
            io_info("face_morphed_half", F, [1, 4, 256, 256]),
            io_info("rotation_pose", F, [1, 6]),
        ],
        [io_info("bgra", TensorProto.UINT8, [512, 512, 4])],
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
