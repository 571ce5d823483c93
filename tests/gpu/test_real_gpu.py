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


def cuda_backend(**options):
    import onnxruntime

    if "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
        pytest.skip("onnxruntime-gpu is not installed")
    return OnnxRuntimeBackend("CUDAExecutionProvider", 0, **options)


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
    else:  # not a default (yet), but a broken fp16 graph is far off, not a level or two
        assert verdict.p999_levels <= 4, str(verdict)


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


def cuda_fp32_pipelines(cache: bool = False, **backend_options):
    """The real separable fp32 set on ONNX Runtime CUDA, set to the sample character."""
    from ezvtb_node.core.stage_cache import StageCache

    gpu_backend = cuda_backend(**backend_options)
    folder = ensure_engine_set("separable", "fp32").path
    gpu = ThaPipeline(
        {s: gpu_backend.load(folder / f"{s}.onnx") for s in STAGES}, StageCache(10**9) if cache else None
    )
    image = load_character(sample_character_path())
    gpu.set_image(image)
    return gpu_backend, gpu, image


def test_cuda_fp32_is_within_one_level_of_the_cpu_render_with_tf32_off():
    backend, gpu, image = cuda_fp32_pipelines()
    assert not backend.tf32
    cpu = pipeline(OnnxRuntimeBackend("CPUExecutionProvider", 0), ensure_engine_set("separable", "fp32").path)
    cpu.set_image(image)
    worst = max(int(np.abs(gpu.render(p).astype(int) - cpu.render(p)).max()) for p in coverage_poses())
    assert worst <= 1  # measured on an H200: 35/255 with ONNX Runtime's default TF32, 1/255 without


def test_every_cuda_fp32_stage_replays_a_cuda_graph():
    # ONNX Runtime refuses a CUDA graph for a session with any node off the CUDA provider, so this
    # also says the fp32 graphs have no Memcpy nodes.
    backend, _, _ = cuda_fp32_pipelines()
    assert backend.graph_notes == {f"{s}.onnx": "CUDA graph" for s in STAGES}


def test_cuda_graph_frames_equal_frames_without_graphs_with_the_cache_on():
    _, graphs, _ = cuda_fp32_pipelines(cache=True)
    _, plain, _ = cuda_fp32_pipelines(cache=True, cuda_graphs=False)
    first, second = test_poses(2, seed=12)
    for pose in (first, second, first, second, first):  # misses, then hits copied back in place
        np.testing.assert_array_equal(graphs.render(pose), plain.render(pose))
    assert graphs.cache.hits == 6


def test_set_image_on_cuda_warms_up_and_leaves_the_caches_empty():
    from tests.gpu.helpers import quiet_core

    core = quiet_core(use_cacher=True)
    if core.describe()["backend"] != "cuda":
        pytest.skip(f"the core runs on {core.describe()['backend']} here, not ONNX Runtime CUDA")
    core.setImage(load_character(sample_character_path()))
    stats = core.stats()
    assert (
        stats["warm_up_ms"] > 0 and stats["model_cache"]["entries"] == 0 and stats["cacher"]["entries"] == 0
    )
    print(f"\nsetImage warm-up on CUDA: {stats['warm_up_ms']:.0f} ms")
