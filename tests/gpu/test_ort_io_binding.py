"""ONNX Runtime with IO binding (the CUDA/DirectML path), run for real on the CPU provider."""

import warnings

import numpy as np
import onnxruntime as ort
import pytest

from ezvtb_node.core import core as core_module
from ezvtb_node.core import get_core
from ezvtb_node.core.backends import Selection, select_backend
from ezvtb_node.core.backends.onnxruntime import OnnxRuntimeBackend, OrtDeviceTensor
from ezvtb_node.pose import POSE_INDEX
from tests.core.tiny_engine import expected_frame
from tests.gpu.helpers import test_poses as poses


def bound_core(monkeypatch, engine_dir, **options):
    backend = OnnxRuntimeBackend("CPUExecutionProvider", 0, io_binding=True)
    monkeypatch.setattr(core_module, "select_backend", lambda *a: Selection(backend, "onnxruntime-cpu"))
    return get_core(model_dir=str(engine_dir), use_interpolation=False, use_cacher=False, **options)


def test_frames_equal_the_plain_cpu_frames(monkeypatch, tiny_engine_dir, character):
    core = bound_core(monkeypatch, tiny_engine_dir, model_cache=False)
    core.setImage(character)
    zeroed = character * (character[..., 3:] > 0)
    for pose in poses(3):
        np.testing.assert_array_equal(core.inference(pose)[0], expected_frame(zeroed, pose))


def test_only_the_poses_go_up_and_they_are_written_in_place(monkeypatch, tiny_engine_dir, character):
    core = bound_core(monkeypatch, tiny_engine_dir, model_cache=False)
    core.setImage(character)
    core.inference(poses(1)[0])
    written, created = [], []
    original_update, original_create = ort.OrtValue.update_inplace, ort.OrtValue.ortvalue_from_numpy

    def counting_update(self, array):
        written.append(array.shape)
        return original_update(self, array)

    def counting_create(array, *args):
        created.append(array.shape)
        return original_create(array, *args)

    monkeypatch.setattr(ort.OrtValue, "update_inplace", counting_update)
    monkeypatch.setattr(ort.OrtValue, "ortvalue_from_numpy", staticmethod(counting_create))
    for pose in poses(3):
        core.inference(pose)
    # Image tensors and stage outputs stay bound from stage to stage; the three pose slices go into
    # the stages' own buffers, in place; no OrtValue is made from a host array after the first frame.
    assert sorted(written) == sorted([(1, 6), (1, 12), (1, 27)] * 3)
    assert created == []


def test_steady_state_frames_reuse_every_buffer(monkeypatch, tiny_engine_dir, character):
    core = bound_core(monkeypatch, tiny_engine_dir, model_cache=False)
    core.setImage(character)
    runners = core._pipeline._runners
    frames = [core._pipeline.render(pose) for pose in poses(2)]
    allocated = {stage: runner.output_buffers for stage, runner in runners.items()}
    zeroed = character * (character[..., 3:] > 0)
    for pose in poses(4, seed=8):
        frame = core._pipeline.render(pose)
        np.testing.assert_array_equal(frame, expected_frame(zeroed, pose))
    assert {stage: runner.output_buffers for stage, runner in runners.items()} == allocated
    # One host array receives every frame.
    assert frames[0] is frames[1] is frame


def test_cached_results_survive_later_renders_with_other_expressions(monkeypatch, tiny_engine_dir, character):
    core = bound_core(monkeypatch, tiny_engine_dir, model_cache=True, model_vram_cache=True)
    core.setImage(character)
    zeroed = character * (character[..., 3:] > 0)
    first, second = poses(2, seed=11)
    for pose in (first, second, first, second):
        np.testing.assert_array_equal(core.inference(pose)[0], expected_frame(zeroed, pose))
    assert core.stats()["model_cache"]["hits"] == 4  # eyebrow + face, twice, copied back in place
    # Per output: the stage's fixed buffer and the cache's two copies, not one buffer per render.
    assert set(core._pipeline._runners["face"].output_buffers.values()) == {3}


def test_cache_keeps_device_values_and_reuses_them(monkeypatch, tiny_engine_dir, character):
    core = bound_core(monkeypatch, tiny_engine_dir, model_cache=True, model_vram_cache=True)
    assert core.describe()["model_cache"]["where"] == "device"
    core.setImage(character)
    original = poses(1)[0]
    first = core.inference(original)[0].copy()
    pose = original.copy()
    pose[0, POSE_INDEX["head_x"]] = 0.7
    core.inference(pose)
    entries = list(core._pipeline.cache._entries.values())
    assert entries and all(isinstance(t, OrtDeviceTensor) for arrays, _ in entries for t in arrays)
    assert core.stats()["model_cache"]["hits"] == 2
    # nbytes is what the LRU counts: eyebrow (1,4,128,128) + face (1,4,512,512) + (1,4,256,256) float32
    assert core.stats()["model_cache"]["bytes"] == 4 * 4 * (128 * 128 + 512 * 512 + 256 * 256)
    np.testing.assert_array_equal(core.inference(original)[0], first)  # from cached OrtValues


def test_vram_cache_off_keeps_host_copies(monkeypatch, tiny_engine_dir, character):
    core = bound_core(monkeypatch, tiny_engine_dir, model_cache=True, model_vram_cache=False)
    assert core.describe()["model_cache"]["where"] == "ram"
    core.setImage(character)
    pose = poses(1)[0]
    first = core.inference(pose)[0].copy()
    entries = list(core._pipeline.cache._entries.values())
    assert all(isinstance(t, np.ndarray) for arrays, _ in entries for t in arrays)
    np.testing.assert_array_equal(core.inference(pose)[0], first)  # fed back from host RAM


def test_gpu_providers_bind_by_default_and_honour_device_id(monkeypatch):
    monkeypatch.setattr(
        ort, "get_available_providers", lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"]
    )
    backend = OnnxRuntimeBackend("CUDAExecutionProvider", 1)
    assert backend.io_binding and backend.device_tensors and backend.device == "gpu:1"
    assert not OnnxRuntimeBackend("CPUExecutionProvider", 0).io_binding


def test_use_tensorrt_false_tries_directml_first(monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "tensorrt", None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        selection = select_backend(False, 0, "onnxruntime")
    assert selection.requested == "directml"
    assert selection.fallback_reason.startswith("directml: ONNX Runtime has no DmlExecutionProvider")
    assert "cuda" in selection.fallback_reason and "tensorrt" not in selection.fallback_reason
    assert len(caught) == 1


@pytest.mark.gpu
def test_cuda_provider_frames_match_cpu(tiny_engine_dir, character):
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        pytest.skip("onnxruntime-gpu with a CUDA device is needed")
    gpu = OnnxRuntimeBackend("CUDAExecutionProvider", 0)
    cpu = OnnxRuntimeBackend("CPUExecutionProvider", 0)
    from ezvtb_node.core.tha import STAGES, ThaPipeline

    frames = []
    for backend in (gpu, cpu):
        pipeline = ThaPipeline({s: backend.load(tiny_engine_dir / f"{s}.onnx") for s in STAGES}, None)
        pipeline.set_image(character)
        frames.append(pipeline.render(poses(1)[0]).copy())
    assert np.abs(frames[0].astype(int) - frames[1]).max() <= 1


def test_set_image_on_a_gpu_backend_warms_up_without_filling_a_cache(monkeypatch, tiny_engine_dir, character):
    backend = OnnxRuntimeBackend("CPUExecutionProvider", 0, io_binding=True)
    backend.device = "gpu:0"  # what decides the warm-up; the graphs run on the CPU provider here
    monkeypatch.setattr(core_module, "select_backend", lambda *a: Selection(backend, "cuda"))
    core = get_core(model_dir=str(tiny_engine_dir), interpolation_scale=2)
    core.setImage(character)
    assert core.stats()["warm_up_ms"] > 0
    assert core.describe()["runtime_notes"] == {"copies": "host memory copies"}
    stats = core.stats()
    assert stats["model_cache"]["entries"] == 0
    assert stats["cacher"]["entries"] == 0 and stats["cacher"]["misses"] == 0
    pose = poses(1)[0]
    snapped = core._cacher.snap(pose)
    zeroed = character * (character[..., 3:] > 0)
    # The interpolation kept no frame of the warm-up: the first call repeats the new frame.
    for frame in core.inference(pose):
        np.testing.assert_array_equal(frame, expected_frame(zeroed, snapped))
    assert core.stats()["model_cache"]["misses"] == 2  # eyebrow and face: the warm-up left nothing


def test_cpu_backends_skip_the_warm_up(monkeypatch, tiny_engine_dir, character):
    core = bound_core(monkeypatch, tiny_engine_dir)
    core.setImage(character)
    assert core.stats()["warm_up_ms"] == 0
