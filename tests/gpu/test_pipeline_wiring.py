"""The pipeline wires stages by tensor name and says which input nothing produces."""

import pytest

from ezvtb_node.core.backends.onnxruntime import OnnxRuntimeBackend
from ezvtb_node.core.tha import STAGES, ThaPipeline


def runners(engine_dir):
    backend = OnnxRuntimeBackend("CPUExecutionProvider", 0)
    return {stage: backend.load(engine_dir / f"{stage}.onnx") for stage in STAGES}


def test_an_input_no_stage_produces_is_named(tiny_engine_dir):
    stages = runners(tiny_engine_dir)
    stages["face"].input_names = ("image_prepared", "eyebrow_image", "face_pose", "face_encoding")
    with pytest.raises(
        ValueError, match=r"stage 'face' needs \['face_encoding'\], which no earlier stage produces"
    ):
        ThaPipeline(stages, None)
