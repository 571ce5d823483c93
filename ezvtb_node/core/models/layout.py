"""The layout of every model file the core runs: stage graphs, their inputs and outputs, variants,
precisions, and the RIFE / SR graph conventions of ezvtuber-rt. One definition for builders,
the store and the runtime.
"""

from __future__ import annotations

VARIANTS = ("separable", "standard")
PRECISIONS = ("fp32", "fp16")
STAGES = ("image", "eyebrow", "face", "body")
STAGE_FILES = {stage: f"{stage}.onnx" for stage in STAGES}
MANIFEST = "manifest.json"
# Bump when the graphs change shape or meaning: older sets built from weights are then rebuilt,
# older imported sets upgraded in place (the same rewrites on their own graphs, weights kept).
# 2: AffineGrid stored as MatMul (runs on TensorRT and in fp16 on CPUs).
# 3: each network's sibling output convolutions merged into one (merge_convs; bit-identical).
# 4: in fp16 sets, ops without a float16 CUDA kernel (GridSample) computed in float32
#    (fp16_islands), so ONNX Runtime CUDA keeps every node on the GPU.
EXPORT_FORMAT = 4

# What each THA3 stage graph takes and gives, in order. Sets imported from ezvtuber-rt cut the
# network differently and record their own stage I/O in their manifest.
STAGE_IO: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "image": (("input_image",), ("image_prepared", "background_layer", "eyebrow_layer")),
    "eyebrow": (("background_layer", "eyebrow_layer", "eyebrow_pose"), ("eyebrow_image",)),
    "face": (("image_prepared", "eyebrow_image", "face_pose"), ("face_morphed_full", "face_morphed_half")),
    "body": (("face_morphed_full", "face_morphed_half", "rotation_pose"), ("bgra",)),
}

# The five files of a THA3 weights folder (the official release, or the tha3 package).
WEIGHT_FILES = (
    "eyebrow_decomposer.pt",
    "eyebrow_morphing_combiner.pt",
    "face_morpher.pt",
    "two_algo_face_body_rotator.pt",
    "editor.pt",
)

# Frames in and out of RIFE and SR graphs: uint8 BGRA, 512 x 512 in.
FRAME_SHAPE = (512, 512, 4)
RIFE_INPUTS = ("tha_img_0", "tha_img_1")
RIFE_SCALES = (2, 3, 4)
# An SR graph's single input name tells its family (waifu2x UpConv7, Real-ESRGAN animevideo-v3).
SR_INPUTS = {"x": "waifu2x", "input": "realesrgan"}
SR_FAMILIES = tuple(SR_INPUTS.values())
SR_SCALES = (2, 4)


def rife_output_names(scale: int) -> list[str]:
    """``interpo_0 … interpo_{n-2}`` (the in-between frames), then ``tha_res`` (the second frame)."""
    return [f"interpo_{i}" for i in range(scale - 1)] + ["tha_res"]
