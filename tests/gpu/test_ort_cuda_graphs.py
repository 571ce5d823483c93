"""CUDA graphs and fixed buffers of the ONNX Runtime backend, checked without a GPU.

The data flow a CUDA graph needs (every stage output in one fixed buffer, cache hits copied back
into it, frames downloaded into one host array) runs for real on the CPU provider with host-memory
copies. ONNX Runtime's refusal of a CUDA graph is a stand-in session that raises what
``onnxruntime/core/session/inference_session.cc`` raises when not every node is on the CUDA EP;
device copies run on the cuda-bindings / pycuda stand-ins (tests/gpu/fake_cuda_bindings.py,
fake_pycuda.py).
"""

import logging

import numpy as np
import onnxruntime as ort
import pytest

from ezvtb_node.core.backends import onnxruntime as ort_backend
from ezvtb_node.core.backends.cuda_memory import load_cuda_binding
from ezvtb_node.core.backends.onnxruntime import OnnxRuntimeBackend, OnnxRuntimeBoundStage, OrtDeviceTensor
from ezvtb_node.core.backends.ort_copy import CudaCopier, HostCopier
from ezvtb_node.core.stage_cache import StageCache
from ezvtb_node.core.tha import STAGES, ThaPipeline
from tests.core.tiny_engine import expected_frame
from tests.gpu.helpers import test_poses as poses

# What inference_session.cc returns (ORT_MAKE_STATUS(ONNXRUNTIME, FAIL, ...)) and the Python layer
# raises as onnxruntime.capi.onnxruntime_pybind11_state.Fail, a RuntimeError.
GRAPH_REFUSAL = (
    "[ONNXRuntimeError] : 1 : FAIL : This session cannot use the CUDA Graph feature as requested by "
    "the user  as all compute graph nodes have not been partitioned to the CUDA EP."
)


def graph_stage(path, copier=None):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return OnnxRuntimeBoundStage(session, "cpu", 0, copier or HostCopier(), cuda_graph=True)


def test_graph_stages_render_exact_frames_with_the_cache_reusing_results(tiny_engine_dir, character):
    runners = {stage: graph_stage(tiny_engine_dir / f"{stage}.onnx") for stage in STAGES}
    pipeline = ThaPipeline(runners, StageCache(10**9))
    zeroed = character * (character[..., 3:] > 0)  # what Core.setImage hands the pipeline
    pipeline.set_image(zeroed)
    first, second = poses(2, seed=21)
    frames = []
    # Misses, then hits copied back into the fixed buffers: a graph stage raises if any input
    # buffer changed after its first run, so this also proves every address stayed put.
    for pose in (first, second, first, second, first):
        frames.append(pipeline.render(pose))
        np.testing.assert_array_equal(frames[-1], expected_frame(zeroed, pose))
    assert pipeline.cache.hits == 6
    assert all(frame is frames[0] for frame in frames)  # one host array receives every frame
    assert set(runners["face"].output_buffers.values()) == {3}  # fixed + two kept copies


def test_the_ram_cache_puts_host_copies_back_into_the_fixed_buffers(tiny_engine_dir, character):
    runners = {stage: graph_stage(tiny_engine_dir / f"{stage}.onnx") for stage in STAGES}
    pipeline = ThaPipeline(runners, StageCache(10**9), cache_on_device=False)
    zeroed = character * (character[..., 3:] > 0)  # what Core.setImage hands the pipeline
    pipeline.set_image(zeroed)
    first, second = poses(2, seed=4)
    for pose in (first, second, first):
        np.testing.assert_array_equal(pipeline.render(pose), expected_frame(zeroed, pose))
    assert pipeline.cache.hits == 2


def test_a_graph_stage_refuses_a_new_input_buffer_after_its_first_run(tiny_engine_dir, character):
    image = graph_stage(tiny_engine_dir / "image.onnx")
    eyebrow = graph_stage(tiny_engine_dir / "eyebrow.onnx")
    feeds = dict(zip(image.output_names, image.run({"input_image": character}), strict=True))
    pose = poses(1)[0][:, :12]
    eyebrow.run({**feeds, "eyebrow_pose": pose})
    moved = {
        name: OrtDeviceTensor(ort.OrtValue.ortvalue_from_numpy(tensor.value.numpy()))
        for name, tensor in feeds.items()
    }
    with pytest.raises(RuntimeError, match="CUDA-graph stage was given a new buffer"):
        eyebrow.run({**feeds, **moved, "eyebrow_pose": pose})


@pytest.fixture
def cuda_session_standin(monkeypatch, fake_gpu):
    """ONNX Runtime with a CUDA provider whose sessions compute on the CPU (no GPU here) and, when
    ``refuse`` is set, refuse ``enable_cuda_graph`` as ORT does for graphs with non-CUDA nodes."""
    monkeypatch.setattr(
        ort, "get_available_providers", lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"]
    )
    monkeypatch.setattr(ort_backend, "preload_nvidia_libraries", lambda: "not preloaded: test")
    real_session = ort.InferenceSession
    state = type("State", (), {"refuse": False, "asked": []})()

    def session(path, options, providers, **kwargs):
        cuda_options = providers[0][1]
        state.asked.append(dict(cuda_options))
        if state.refuse and cuda_options.get("enable_cuda_graph") == "1":
            raise RuntimeError(GRAPH_REFUSAL)
        created = real_session(path, options, providers=["CPUExecutionProvider"])
        created.get_providers = lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"]
        return created

    monkeypatch.setattr(ort, "InferenceSession", session)
    return state


def test_each_stage_asks_for_a_cuda_graph_first(cuda_session_standin, tiny_engine_dir):
    backend = OnnxRuntimeBackend("CUDAExecutionProvider", 0)
    assert backend.cuda_graphs and backend.copy_note.startswith("device copies through")
    stage = backend.load(tiny_engine_dir / "body.onnx")
    assert stage.cuda_graph and backend.graph_notes == {"body.onnx": "CUDA graph"}
    assert [asked.get("enable_cuda_graph") for asked in cuda_session_standin.asked] == ["1"]


def test_a_refused_cuda_graph_runs_without_one_and_says_why(cuda_session_standin, tiny_engine_dir, caplog):
    cuda_session_standin.refuse = True
    backend = OnnxRuntimeBackend("CUDAExecutionProvider", 0)
    with caplog.at_level(logging.WARNING, logger=ort_backend.__name__):
        stage = backend.load(tiny_engine_dir / "face.onnx")
    assert not stage.cuda_graph
    assert backend.graph_notes["face.onnx"].startswith("no CUDA graph: ")
    assert "not been partitioned to the CUDA EP" in backend.graph_notes["face.onnx"]
    assert "refused a CUDA graph for face.onnx" in caplog.text
    assert [asked.get("enable_cuda_graph") for asked in cuda_session_standin.asked] == ["1", None]


def test_the_cuda_copier_copies_between_device_buffers_and_down_to_the_host(fake_gpu):
    binding = load_cuda_binding(fake_gpu.binding)
    assert binding.device_count() == 1
    device = binding.open(0)
    copier = CudaCopier(device)
    data = np.arange(16, dtype=np.float32)
    with device.current():
        source, target = device.alloc(data.nbytes), device.alloc(data.nbytes)
        stream = device.stream()
        device.upload(source.ptr, data, stream)
        stream.synchronize()

    class Value:  # what the copier reads of an OrtValue: its data_ptr()
        def __init__(self, pointer):
            self.data_ptr = lambda: pointer

    copier.copy(Value(target.ptr), Value(source.ptr), data.nbytes)
    host = copier.host_array((16,), np.float32)
    copier.download(host, Value(target.ptr))
    np.testing.assert_array_equal(host, data)
