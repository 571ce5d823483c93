"""The TensorRT backend against the stand-ins of tensorrt and of both CUDA bindings
(tests/gpu/fake_*.py): every test taking ``fake_gpu`` runs once with cuda-bindings and once with
pycuda (the other one not installed).

The fakes execute the real stage graphs with ONNX Runtime when the fake CUDA stream runs, so
these tests check frames as well as buffer bookkeeping, call order, contexts and fallbacks.
"""

import gc
import threading
import warnings

import numpy as np
import pytest

from ezvtb_node.core import get_core
from ezvtb_node.core.backends.tensorrt import DeviceTensor, TensorRtBackend
from ezvtb_node.pose import POSE_INDEX
from tests.core.tiny_engine import expected_frame
from tests.gpu import fake_pycuda
from tests.gpu.fake_pycuda import FakeDevice
from tests.gpu.helpers import quiet_core, test_poses


def expected(character, pose):
    return expected_frame(character * (character[..., 3:] > 0), pose)


def enqueued(state, kind):
    return [call for call in state.calls if call[0] == "enqueue" and call[1] == kind]


@pytest.mark.parametrize("model_cache", [False, True])
def test_frames_equal_the_cpu_frames(fake_gpu, tiny_engine_dir, character, model_cache):
    core = quiet_core(model_dir=str(tiny_engine_dir), model_cache=model_cache)
    info = core.describe()
    assert info["backend"] == "tensorrt" and info["fallback_reason"] is None
    assert info["device"] == "gpu:0 (NVIDIA GeForce RTX 3060, sm 8.6)"
    core.setImage(character)
    poses = test_poses(3)
    for pose in [*poses, poses[0]]:  # the last one comes from the cache when it is on
        np.testing.assert_array_equal(core.inference(pose)[0], expected(character, pose))


def test_only_poses_go_up_and_only_the_frame_comes_down(fake_gpu, tiny_engine_dir, character):
    core = quiet_core(model_dir=str(tiny_engine_dir), model_cache=False)
    core.setImage(character)
    core.inference(test_poses(1)[0])  # warm-up: output buffers are allocated on first use
    allocations = fake_gpu.allocations
    for pose in test_poses(4, seed=9):
        fake_gpu.calls.clear()
        np.testing.assert_array_equal(core.inference(pose)[0], expected(character, pose))
        # eyebrow (1,12), face (1,27), rotation (1,6) float32 poses up; one 512x512x4 frame down
        assert [call[3] for call in enqueued(fake_gpu, "htod")] == [12 * 4, 27 * 4, 6 * 4]
        assert [call[3] for call in enqueued(fake_gpu, "dtoh")] == [512 * 512 * 4]
    assert fake_gpu.allocations == allocations, "steady state must reuse device buffers"
    assert fake_gpu.pageable_async_copies == 0, "async copies must use pinned host buffers"


def test_work_is_queued_in_order_and_the_host_waits_only_for_the_frame(fake_gpu, tiny_engine_dir, character):
    core = quiet_core(model_dir=str(tiny_engine_dir), model_cache=False)
    core.setImage(character)
    fake_gpu.calls.clear()
    core.inference(test_poses(1)[0])
    order = [call[0] if call[0] in ("push", "pop") else f"{call[0]}:{call[1]}" for call in fake_gpu.calls]
    queued = [step for step in order if step.startswith("enqueue")]
    assert queued == [
        "enqueue:htod", "enqueue:execute",  # eyebrow
        "enqueue:htod", "enqueue:execute",  # face
        "enqueue:htod", "enqueue:execute",  # body
        "enqueue:dtoh",  # the frame
    ]  # fmt: skip
    # Nothing ran before the frame was requested: the stages were queued without host waits.
    first_executed = next(i for i, step in enumerate(order) if step.startswith("executed"))
    assert first_executed > order.index("enqueue:dtoh")


def test_intermediates_stay_in_device_memory_in_the_cache(fake_gpu, tiny_engine_dir, character):
    core = quiet_core(model_dir=str(tiny_engine_dir), model_cache=True, model_vram_cache=True)
    assert core.describe()["model_cache"]["where"] == "device"
    core.setImage(character)
    pose = test_poses(1)[0]
    core.inference(pose)
    entries = [t for arrays, _ in core._pipeline.cache._entries.values() for t in arrays]
    assert entries and all(isinstance(t, DeviceTensor) for t in entries)
    fake_gpu.calls.clear()
    pose[0, POSE_INDEX["head_x"]] = 0.9  # rotation only: eyebrow and face come from the cache
    np.testing.assert_array_equal(core.inference(pose)[0], expected(character, pose))
    assert [call[3] for call in enqueued(fake_gpu, "htod")] == [6 * 4], "only the rotation pose goes up"
    assert len(enqueued(fake_gpu, "execute")) == 1


def test_vram_cache_off_keeps_host_copies(fake_gpu, tiny_engine_dir, character):
    core = quiet_core(model_dir=str(tiny_engine_dir), model_cache=True, model_vram_cache=False)
    assert core.describe()["model_cache"]["where"] == "ram"
    core.setImage(character)
    pose = test_poses(1)[0]
    core.inference(pose)
    entries = [t for arrays, _ in core._pipeline.cache._entries.values() for t in arrays]
    assert entries and all(isinstance(t, np.ndarray) for t in entries)
    np.testing.assert_array_equal(core.inference(pose)[0], expected(character, pose))


def test_dropped_results_return_their_buffers_to_the_pool(fake_gpu, tiny_engine_dir, character):
    core = quiet_core(model_dir=str(tiny_engine_dir), model_cache=True)
    core.setImage(character)
    for pose in test_poses(3):
        core.inference(pose)
    face_runner = core._pipeline._runners["face"]
    assert all(not pool.free for pool in face_runner.pools.values()), "cached results are all alive"
    core.setImage(character)  # clears the cache
    gc.collect()
    assert all(len(pool.free) == pool.allocated == 3 for pool in face_runner.pools.values())


def test_pinned_inputs_are_not_overwritten_before_their_upload_ran(fake_gpu, tiny_engine_dir, character):
    backend = TensorRtBackend(0, progress=False)
    eyebrow = backend.load(tiny_engine_dir / "eyebrow.onnx")
    layer = np.random.default_rng(1).uniform(0, 1, (1, 4, 128, 128)).astype(np.float32)
    first, second = np.full((1, 12), 0.1, np.float32), np.full((1, 12), 0.7, np.float32)
    # Two runs queued back to back, nothing synchronized in between.
    (out_first,) = eyebrow.run(
        {"background_layer": layer, "eyebrow_layer": layer * 0.5, "eyebrow_pose": first}
    )
    (out_second,) = eyebrow.run(
        {"background_layer": layer, "eyebrow_layer": layer * 0.5, "eyebrow_pose": second}
    )
    np.testing.assert_allclose(out_first.to_host(), layer * 0.5 + 0.1, rtol=1e-6)
    np.testing.assert_allclose(out_second.to_host(), layer * 0.5 + 0.7, rtol=1e-6)


def test_inference_from_another_thread_makes_the_context_current_there(fake_gpu, tiny_engine_dir, character):
    fake_pycuda.reset([FakeDevice("NVIDIA GeForce RTX 3060"), FakeDevice("NVIDIA GeForce RTX 4090", (8, 9))])
    fake_gpu = fake_pycuda.STATE
    core = quiet_core(model_dir=str(tiny_engine_dir), model_cache=False, device_id=1)
    core.setImage(character)
    pose = test_poses(1)[0]
    results = {}

    def worker():
        results["frame"] = core.inference(pose)[0].copy()
        results["thread"] = threading.get_ident()
        results["stack_after"] = list(fake_pycuda.STATE.context_stack())

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    np.testing.assert_array_equal(results["frame"], expected(character, pose))
    made_current = [c for c in fake_gpu.calls if c[0] in ("push", "set_device") and c[2] == results["thread"]]
    assert made_current and {call[1] for call in made_current} == {1}
    if binding_of(core) == "pycuda":
        pops = [call for call in fake_gpu.calls if call[0] == "pop" and call[2] == results["thread"]]
        assert len(made_current) == len(pops)
        assert results["stack_after"] == [] and fake_pycuda.STATE.context_stack() == []
    else:
        # The CUDA runtime leaves the device bound to the thread (cudaSetDevice); by design.
        assert results["stack_after"] == [1]


def binding_of(core) -> str:
    return core.describe()["provider"].split(" + ")[1].split()[0]


def test_device_id_selects_that_gpu(fake_gpu, tiny_engine_dir, character):
    fake_pycuda.reset([FakeDevice("NVIDIA GeForce RTX 3060"), FakeDevice("NVIDIA GeForce RTX 4090", (8, 9))])
    core = quiet_core(model_dir=str(tiny_engine_dir), device_id=1)
    assert core.describe()["device"] == "gpu:1 (NVIDIA GeForce RTX 4090, sm 8.9)"
    core.setImage(character)
    core.inference(test_poses(1)[0])
    calls = fake_pycuda.STATE.calls
    devices = {call[2] for call in calls if call[0] == "alloc"}
    contexts = {call[1] for call in calls if call[0] in ("push", "set_device")}
    assert devices == {1} and contexts == {1}
    assert {stream.device for stream in fake_pycuda.STATE.streams.values()} == {1}


NO_DEVICE = {
    "pycuda": "the CUDA driver is not usable (cuInit failed: no CUDA-capable device is detected)",
    "cuda-bindings": "the CUDA driver is not usable (cudaGetDeviceCount failed: cudaErrorNoDevice)",
}


@pytest.mark.parametrize(
    ("devices", "device_id", "reason"),
    [
        ([FakeDevice("NVIDIA GeForce GTX 1060 6GB", (6, 1))], 0,
         "GeForce GTX 1060 6GB (device 0) has compute capability 6.1; TensorRT needs 7.5 or newer"),
        ([FakeDevice()], 2, "device_id 2 does not exist: this machine has 1 CUDA device(s)"),
        ([], 0, "no device"),
    ],
)  # fmt: skip
def test_unusable_gpu_falls_back_with_a_clear_reason(
    fake_gpu, tiny_engine_dir, character, devices, device_id, reason
):
    fake_pycuda.reset(devices)
    reason = NO_DEVICE[fake_gpu.binding] if reason == "no device" else reason
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        core = get_core(model_dir=str(tiny_engine_dir), device_id=device_id, use_interpolation=False)
    info = core.describe()
    assert info["backend"] != "tensorrt"
    assert reason in info["fallback_reason"]
    fallback_warnings = [w for w in caught if "tensorrt is not available" in str(w.message)]
    assert len(fallback_warnings) == 1 and reason in str(fallback_warnings[0].message)
    core.setImage(character)  # and the fallback renders
    pose = test_poses(1)[0]
    np.testing.assert_array_equal(core.inference(pose)[0], expected(character, pose))


def test_missing_packages_are_named(monkeypatch, tiny_engine_dir):
    monkeypatch.setitem(__import__("sys").modules, "tensorrt", None)
    core = quiet_core(model_dir=str(tiny_engine_dir))
    assert "the tensorrt package is not installed" in core.describe()["fallback_reason"]


def test_wrong_input_shape_is_rejected_clearly(fake_gpu, tiny_engine_dir):
    backend = TensorRtBackend(0, progress=False)
    body = backend.load(tiny_engine_dir / "body.onnx")
    with pytest.raises(ValueError, match=r"'rotation_pose' expects float32 \(1, 6\), got \(1, 5\)"):
        body.run(
            {
                "face_morphed_full": np.zeros((1, 4, 512, 512), np.float32),
                "face_morphed_half": np.zeros((1, 4, 256, 256), np.float32),
                "rotation_pose": np.zeros((1, 5), np.float32),
            }
        )
