"""Checks that need a real NVIDIA GPU (skipped elsewhere): run them with `pytest -m gpu`.

Until these have passed on a GPU, the GPU backends are unverified (docs/gpu.md).
"""

import threading

import numpy as np
import pytest

from ezvtb_node.character import load_character, sample_character_path
from ezvtb_node.core.backends.onnxruntime import OnnxRuntimeBackend
from ezvtb_node.core.models.tha3_build import ensure_engine_set
from ezvtb_node.core.precision import GPU_DEFAULTS, judge_precision
from ezvtb_node.core.tha import STAGES, ThaPipeline
from tests.core.reference import coverage_poses
from tests.core.tiny_engine import expected_frame
from tests.gpu.helpers import test_poses

pytestmark = pytest.mark.gpu


def tensorrt_backend(cuda_binding: str = "cuda-bindings"):
    """TensorRT through one CUDA binding (both are checked: each is someone's setup)."""
    pytest.importorskip("tensorrt")
    pytest.importorskip("cuda.bindings.runtime" if cuda_binding == "cuda-bindings" else "pycuda.driver")
    from ezvtb_node.core.backends.tensorrt import TensorRtBackend

    return TensorRtBackend(0, cuda_binding=cuda_binding)


def cuda_backend():
    import onnxruntime

    if "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
        pytest.skip("onnxruntime-gpu is not installed")
    return OnnxRuntimeBackend("CUDAExecutionProvider", 0)


BACKENDS = {
    "tensorrt": tensorrt_backend,
    "tensorrt-pycuda": lambda: tensorrt_backend("pycuda"),
    "cuda": cuda_backend,
}


def pipeline(backend, folder):
    return ThaPipeline({stage: backend.load(folder / f"{stage}.onnx") for stage in STAGES}, None)


def prepared(character):
    """The image as ``Core.setImage`` hands it to ``ThaPipeline.set_image`` (which takes it as
    given): transparent pixels zeroed, as THA3 expects."""
    return character * (character[..., 3:] > 0)


@pytest.mark.parametrize("name", sorted(BACKENDS))
def test_tiny_graphs_give_exact_frames(name, tiny_engine_dir, character):
    poser = pipeline(BACKENDS[name](), tiny_engine_dir)
    image = prepared(character)
    poser.set_image(image)
    for pose in test_poses(3):
        frame = poser.render(pose)
        assert np.abs(frame.astype(int) - expected_frame(image, pose)).max() <= 1


@pytest.mark.parametrize("name", sorted(BACKENDS))
@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_real_tha3_matches_the_cpu_render(name, precision, capsys):
    """fp32 must meet its bound everywhere (it is the fallback); fp16 where the precision table
    makes it a backend's default. Either way the verdict is printed, to update the table with."""
    reference_set = ensure_engine_set("separable", "fp32")
    cpu = pipeline(OnnxRuntimeBackend("CPUExecutionProvider", 0), reference_set.path)
    backend = BACKENDS[name]()
    gpu = pipeline(backend, ensure_engine_set("separable", precision).path)
    image = prepared(load_character(sample_character_path()))
    cpu.set_image(image)
    gpu.set_image(image)
    poses = coverage_poses()
    reference = [cpu.render(pose).copy() for pose in poses]
    verdict = judge_precision(reference, [gpu.render(pose).copy() for pose in poses], precision)
    with capsys.disabled():
        print(f"\n{name} separable/{precision} vs CPU fp32: {verdict}")
    if precision == "fp32" or GPU_DEFAULTS[backend.name].precision == precision:
        assert verdict.meets_bound, str(verdict)


@pytest.mark.parametrize("cuda_binding", ["cuda-bindings", "pycuda"])
def test_tensorrt_runs_from_another_thread(tiny_engine_dir, character, cuda_binding):
    poser = pipeline(tensorrt_backend(cuda_binding), tiny_engine_dir)
    image = prepared(character)
    poser.set_image(image)
    pose = test_poses(1)[0]
    frames = []
    thread = threading.Thread(target=lambda: frames.append(poser.render(pose).copy()))
    thread.start()
    thread.join()
    np.testing.assert_array_equal(frames[0], expected_frame(image, pose))
