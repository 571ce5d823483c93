"""Tiny graphs with the exact I/O contract of the ezvtuber-rt THA3 release (five graphs).

Names, shapes and dtypes follow their files (REFERENCE.md §3 and their loader code): the combiner
hands the face crop plus an encoder tensor to the morpher, the rotator feeds the editor. The
arithmetic is simple but uses every input, so a wrong wiring changes the frame.
``run_reference`` runs the five graphs the way ezvtuber-rt chains them, for comparison.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper
from onnxruntime.transformers.float16 import convert_float_to_float16

from ezvtb_node.core.models.export import _cast_pose_inputs_to_float32, _sort_topologically
from tests.core.tiny_engine import bgra_nodes, const_node, io_info, tiny_model

F = TensorProto.FLOAT
SEPARABLE_ENCODER = "/face_morpher/body/downsample_blocks.3/downsample_blocks.3.3/Relu_output_0"
STANDARD_ENCODER = "/face_morpher/downsample_blocks.3/downsample_blocks.3.2/Relu_output_0"


def _slice(src, dst, starts, ends, axes=(2, 3)):
    tag = dst
    return [
        const_node(f"{tag}_s", np.array(starts, np.int64)),
        const_node(f"{tag}_e", np.array(ends, np.int64)),
        const_node(f"{tag}_a", np.array(axes, np.int64)),
        helper.make_node("Slice", [src, f"{tag}_s", f"{tag}_e", f"{tag}_a"], [dst]),
    ]


def decomposer():
    nodes = [
        helper.make_node("Cast", ["input_image"], ["f"], to=F),
        const_node("k255", np.float32(255.0)),
        helper.make_node("Div", ["f", "k255"], ["unit"]),
        helper.make_node("Transpose", ["unit"], ["chw"], perm=[2, 0, 1]),
        const_node("ax0", np.array([0], np.int64)),
        helper.make_node("Unsqueeze", ["chw", "ax0"], ["image_prepared"]),
        *_slice("image_prepared", "background_layer", [64, 192], [192, 320]),
        const_node("half", np.float32(0.5)),
        helper.make_node("Mul", ["background_layer", "half"], ["eyebrow_layer"]),
    ]
    return tiny_model(
        nodes,
        [io_info("input_image", TensorProto.UINT8, [512, 512, 4])],
        [
            io_info("background_layer", F, [1, 4, 128, 128]),
            io_info("eyebrow_layer", F, [1, 4, 128, 128]),
            io_info("image_prepared", F, [1, 4, 512, 512]),
        ],
    )


def combiner(encoder: str):
    nodes = [
        helper.make_node("ReduceMean", ["eyebrow_pose"], ["pose_mean"], keepdims=0),
        helper.make_node("Sub", ["eyebrow_background_layer", "eyebrow_layer"], ["diff"]),
        helper.make_node("ReduceMean", ["diff"], ["diff_mean"], keepdims=0),
        *_slice("image_prepared", "crop", [32, 160], [224, 352]),
        helper.make_node("Add", ["crop", "pose_mean"], ["a"]),
        helper.make_node("Add", ["a", "diff_mean"], ["eyebrow_image"]),
        *_slice("image_prepared", "corner", [0, 0], [24, 24]),
        const_node("reps", np.array([1, 128, 1, 1], np.int64)),
        helper.make_node("Tile", ["corner", "reps"], ["tiled"]),
        helper.make_node("Mul", ["tiled", "pose_mean"], [encoder]),
    ]
    return tiny_model(
        nodes,
        [
            io_info("image_prepared", F, [1, 4, 512, 512]),
            io_info("eyebrow_background_layer", F, [1, 4, 128, 128]),
            io_info("eyebrow_layer", F, [1, 4, 128, 128]),
            io_info("eyebrow_pose", F, [1, 12]),
        ],
        [io_info("eyebrow_image", F, [1, 4, 192, 192]), io_info(encoder, F, [1, 512, 24, 24])],
    )


def morpher(encoder: str):
    nodes = [
        helper.make_node("ReduceMean", ["face_pose"], ["pose_mean"], keepdims=0),
        helper.make_node("ReduceMean", ["im_morpher_crop"], ["crop_mean"], keepdims=0),
        helper.make_node("ReduceMean", [encoder], ["enc_mean"], keepdims=0),
        helper.make_node("Add", ["pose_mean", "crop_mean"], ["a"]),
        helper.make_node("Add", ["a", "enc_mean"], ["b"]),
        const_node("k01", np.float32(0.1)),
        helper.make_node("Mul", ["b", "k01"], ["shift"]),
        const_node("k05", np.float32(0.5)),
        helper.make_node("Mul", ["image_prepared", "k05"], ["dimmed"]),
        helper.make_node("Add", ["dimmed", "shift"], ["face_morphed_full"]),
        const_node("st", np.array([2, 2], np.int64)),
        const_node("s0", np.array([0, 0], np.int64)),
        const_node("s1", np.array([512, 512], np.int64)),
        const_node("ax", np.array([2, 3], np.int64)),
        helper.make_node("Slice", ["face_morphed_full", "s0", "s1", "ax", "st"], ["face_morphed_half"]),
    ]
    return tiny_model(
        nodes,
        [
            io_info("image_prepared", F, [1, 4, 512, 512]),
            io_info("im_morpher_crop", F, [1, 4, 192, 192]),
            io_info("face_pose", F, [1, 27]),
            io_info(encoder, F, [1, 512, 24, 24]),
        ],
        [
            io_info("face_morphed_full", F, [1, 4, 512, 512]),
            io_info("face_morphed_half", F, [1, 4, 256, 256]),
        ],
    )


def rotator():
    nodes = [
        helper.make_node("ReduceSum", ["rotation_pose"], ["rot_sum"], keepdims=0),
        const_node("scales", np.array([1, 1, 2, 2], np.float32)),
        helper.make_node("Resize", ["face_morphed_half", "", "scales"], ["up"], mode="nearest"),
        helper.make_node("Add", ["up", "rot_sum"], ["full_warped_image"]),
        *_slice("full_warped_image", "full_grid_change", [0], [2], axes=[1]),
    ]
    return tiny_model(
        nodes,
        [io_info("face_morphed_half", F, [1, 4, 256, 256]), io_info("rotation_pose", F, [1, 6])],
        [io_info("full_warped_image", F, [1, 4, 512, 512]), io_info("full_grid_change", F, [1, 2, 512, 512])],
    )


def editor():
    nodes = [
        helper.make_node("Sub", ["rotated_warped_image", "morphed_image"], ["delta"]),
        const_node("k01", np.float32(0.1)),
        helper.make_node("Mul", ["delta", "k01"], ["small"]),
        helper.make_node("Add", ["morphed_image", "small"], ["mixed"]),
        helper.make_node("ReduceMean", ["rotated_grid_change"], ["grid_mean"], keepdims=0),
        helper.make_node("ReduceSum", ["rotation_pose"], ["rot_sum"], keepdims=0),
        const_node("k005", np.float32(0.05)),
        helper.make_node("Mul", ["rot_sum", "k005"], ["rot_shift"]),
        helper.make_node("Mul", ["grid_mean", "k01"], ["grid_shift"]),
        helper.make_node("Add", ["mixed", "rot_shift"], ["m2"]),
        helper.make_node("Add", ["m2", "grid_shift"], ["m3"]),
        # THA3's editor resamples the image along the rotator's grid (torch grid_sample):
        helper.make_node("Transpose", ["rotated_grid_change"], ["grid_nhwc"], perm=[0, 2, 3, 1]),
        helper.make_node("Tanh", ["grid_nhwc"], ["grid"]),
        helper.make_node("GridSample", ["morphed_image", "grid"], ["sampled"], align_corners=0),
        helper.make_node("Mul", ["sampled", "k01"], ["sampled_small"]),
        helper.make_node("Add", ["m3", "sampled_small"], ["result"]),
        *bgra_nodes("result", "cv_result"),
    ]
    return tiny_model(
        nodes,
        [
            io_info("morphed_image", F, [1, 4, 512, 512]),
            io_info("rotated_warped_image", F, [1, 4, 512, 512]),
            io_info("rotated_grid_change", F, [1, 2, 512, 512]),
            io_info("rotation_pose", F, [1, 6]),
        ],
        [io_info("result", F, [1, 4, 512, 512]), io_info("cv_result", TensorProto.UINT8, [512, 512, 4])],
    )


def write_ezvtuber_set(data_dir: Path, variant_folder: str = "seperable", precision: str = "fp32") -> Path:
    """Write one set at ``data_dir/tha3/<variant_folder>/<precision>/`` (fp16 by converting fp32)."""
    encoder = SEPARABLE_ENCODER if variant_folder == "seperable" else STANDARD_ENCODER
    folder = data_dir / "tha3" / variant_folder / precision
    folder.mkdir(parents=True, exist_ok=True)
    graphs = {
        "decomposer": decomposer(),
        "combiner": combiner(encoder),
        "morpher": morpher(encoder),
        "rotator": rotator(),
        "editor": editor(),
    }
    for name, model in graphs.items():
        onnx.save(release_half(model) if precision == "fp16" else model, str(folder / f"{name}.onnx"))
    return folder


def release_half(model: onnx.ModelProto) -> onnx.ModelProto:
    """fp16 the way the released sets are: every float tensor fp16 (GridSample included, as ONNX
    Runtime's float16 converter leaves it by default), the poses float32 at the interface."""
    half = convert_float_to_float16(model, keep_io_types=False)
    _cast_pose_inputs_to_float32(half)
    _sort_topologically(half.graph)
    onnx.checker.check_model(half)
    return half


def run_reference(folder: Path, image: np.ndarray, pose: np.ndarray) -> np.ndarray:
    """The frame of the five graphs chained the way ezvtuber-rt chains them."""
    sessions = {
        name: ort.InferenceSession(str(folder / f"{name}.onnx"), providers=["CPUExecutionProvider"])
        for name in ("decomposer", "combiner", "morpher", "rotator", "editor")
    }
    encoder = sessions["combiner"].get_outputs()[1].name
    background, eyebrow, prepared = sessions["decomposer"].run(None, {"input_image": image})
    crop, encoded = sessions["combiner"].run(
        None,
        {
            "image_prepared": prepared,
            "eyebrow_background_layer": background,
            "eyebrow_layer": eyebrow,
            "eyebrow_pose": pose[:, :12],
        },
    )
    full, half = sessions["morpher"].run(
        None,
        {"image_prepared": prepared, "im_morpher_crop": crop, "face_pose": pose[:, 12:39], encoder: encoded},
    )
    warped, grid = sessions["rotator"].run(None, {"face_morphed_half": half, "rotation_pose": pose[:, 39:]})
    _, frame = sessions["editor"].run(
        None,
        {
            "morphed_image": full,
            "rotated_warped_image": warped,
            "rotated_grid_change": grid,
            "rotation_pose": pose[:, 39:],
        },
    )
    return frame
