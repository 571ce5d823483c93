"""Checks that need a real NVIDIA GPU (skipped elsewhere): run them with `pytest -m gpu`.

Until these have passed on a GPU, the GPU backends are unverified (docs/gpu.md).
"""

import threading

import numpy as np
import pytest

from ezvtb_node.core.backends.onnxruntime import OnnxRuntimeBackend
from ezvtb_node.core.engines import ensure_engine_set
from ezvtb_node.core.tha import STAGES, ThaPipeline
from ezvtb_node.demo import load_character, sample_character_path
from tests.core.tiny_engine import expected_frame
from tests.gpu.helpers import test_poses

pytestmark = pytest.mark.gpu


def tensorrt_backend():
    pytest.importorskip("tensorrt")
    pytest.importorskip("pycuda.driver")
    from ezvtb_node.core.backends.tensorrt import TensorRtBackend

    return TensorRtBackend(0)


def cuda_backend():
    import onnxruntime

    if "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
        pytest.skip("onnxruntime-gpu is not installed")
    return OnnxRuntimeBackend("CUDAExecutionProvider", 0)


BACKENDS = {"tensorrt": tensorrt_backend, "cuda": cuda_backend}


def pipeline(backend, folder):
    return ThaPipeline({stage: backend.load(folder / f"{stage}.onnx") for stage in STAGES}, None)


@pytest.mark.parametrize("name", sorted(BACKENDS))
def test_tiny_graphs_give_exact_frames(name, tiny_engine_dir, character):
    poser = pipeline(BACKENDS[name](), tiny_engine_dir)
    poser.set_image(character)
    for pose in test_poses(3):
        frame = poser.render(pose)
        expected = expected_frame(character * (character[..., 3:] > 0), pose)
        assert np.abs(frame.astype(int) - expected).max() <= 1


@pytest.mark.parametrize("name", sorted(BACKENDS))
@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_real_tha3_matches_the_cpu_render(name, precision, capsys):
    reference_set = ensure_engine_set("separable", "fp32")
    cpu = pipeline(OnnxRuntimeBackend("CPUExecutionProvider", 0), reference_set.path)
    gpu = pipeline(BACKENDS[name](), ensure_engine_set("separable", precision).path)
    image = load_character(sample_character_path())
    cpu.set_image(image)
    gpu.set_image(image)
    worst = 0
    for pose in test_poses(6, seed=11):
        reference = cpu.render(pose).astype(int)
        worst = max(worst, int(np.abs(gpu.render(pose).astype(int) - reference).max()))
    with capsys.disabled():
        print(f"\n{name} separable/{precision}: max |Δ| vs CPU fp32 = {worst}/255")
    assert worst <= (3 if precision == "fp32" else 16)


def test_tensorrt_runs_from_another_thread(tiny_engine_dir, character):
    poser = pipeline(tensorrt_backend(), tiny_engine_dir)
    poser.set_image(character)
    pose = test_poses(1)[0]
    frames = []
    thread = threading.Thread(target=lambda: frames.append(poser.render(pose).copy()))
    thread.start()
    thread.join()
    np.testing.assert_array_equal(frames[0], expected_frame(character * (character[..., 3:] > 0), pose))
