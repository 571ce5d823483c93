"""TensorRT engine building and the on-disk engine cache, against the stand-ins."""

import io
import json
import sys

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from ezvtb_node.core.backends.tensorrt import TensorRtBackend
from ezvtb_node.core.backends.tensorrt_build import DEFAULT_WORKSPACE_BYTES, engine_cache_path
from ezvtb_node.core.models.layout import STAGES
from ezvtb_node.core.models.store import sha256_file
from ezvtb_node.paths import engines_dir
from tests.gpu import fake_pycuda, fake_tensorrt
from tests.gpu.fake_pycuda import FakeDevice
from tests.gpu.helpers import copy_engine_set, half_engine_set, quiet_core, refresh_manifest


def built_stages():
    return [build["inputs"] for build in fake_tensorrt.BUILDS]


def load_all(engine_dir, **backend_options):
    backend = TensorRtBackend(0, progress=False, **backend_options)
    for stage in STAGES:
        backend.load(engine_dir / f"{stage}.onnx")
    return backend


def test_engines_are_built_once_and_keyed(fake_gpu, tiny_engine_dir, tmp_path):
    engine_dir = copy_engine_set(tiny_engine_dir, tmp_path / "set")
    first = load_all(engine_dir)
    assert [p.stem for p in first.built] == list(STAGES)
    second = load_all(engine_dir)
    assert second.built == [] and len(fake_tensorrt.BUILDS) == 4
    cache_file = engine_cache_path(engine_dir / "body.onnx", "NVIDIA GeForce RTX 3060", "8.6", "10.9.0.34")
    assert cache_file.is_relative_to(
        engines_dir() / "tensorrt" / "nvidia-geforce-rtx-3060-sm86" / "trt-10.9.0.34"
    )
    key = json.loads(cache_file.with_suffix(".json").read_text())
    assert key["gpu_name"] == "NVIDIA GeForce RTX 3060" and key["compute_capability"] == "8.6"
    assert key["tensorrt_version"] == "10.9.0.34"
    assert key["onnx_sha256"] == sha256_file(engine_dir / "body.onnx")
    assert key["fp16"] is False


def test_changed_onnx_rebuilds_only_that_stage(fake_gpu, tiny_engine_dir, tmp_path):
    engine_dir = copy_engine_set(tiny_engine_dir, tmp_path / "set")
    load_all(engine_dir)
    model = onnx.load(str(engine_dir / "face.onnx"))
    model.doc_string = "re-exported"
    onnx.save(model, str(engine_dir / "face.onnx"))
    assert [p.stem for p in load_all(engine_dir).built] == ["face"]


def test_other_tensorrt_version_or_gpu_builds_its_own_engines(fake_gpu, tiny_engine_dir, tmp_path):
    engine_dir = copy_engine_set(tiny_engine_dir, tmp_path / "set")
    load_all(engine_dir)
    fake_tensorrt.configure("10.13.0.35")
    assert len(load_all(engine_dir).built) == 4
    fake_pycuda.reset([FakeDevice("NVIDIA GeForce RTX 4070", (8, 9))])
    assert len(load_all(engine_dir).built) == 4
    folders = sorted(p.name for p in (engines_dir() / "tensorrt").iterdir())
    assert folders == ["nvidia-geforce-rtx-3060-sm86", "nvidia-geforce-rtx-4070-sm89"]


@pytest.mark.parametrize("damage", ["engine", "key", "version"])
def test_corrupt_or_stale_cache_entries_are_rebuilt(fake_gpu, tiny_engine_dir, tmp_path, damage):
    engine_dir = copy_engine_set(tiny_engine_dir, tmp_path / "set")
    backend = load_all(engine_dir)
    cache_file = backend.engine_path(engine_dir / "image.onnx")
    if damage == "engine":
        cache_file.write_bytes(cache_file.read_bytes()[:-10])
    elif damage == "key":
        cache_file.with_suffix(".json").write_text("{not json")
    else:  # an engine serialized by another TensorRT, key edited to look current
        key = json.loads(cache_file.with_suffix(".json").read_text())
        data = cache_file.read_bytes().replace(b'"version": "10.9.0.34"', b'"version": "10.1.0.00"')
        cache_file.write_bytes(data)
        key["engine_sha256"] = __import__("hashlib").sha256(data).hexdigest()
        cache_file.with_suffix(".json").write_text(json.dumps(key))
    assert [p.stem for p in load_all(engine_dir).built] == ["image"]


def test_fp16_sets_get_the_fp16_flag_and_a_workspace_limit(fake_gpu, tiny_engine_dir, tmp_path):
    load_all(copy_engine_set(tiny_engine_dir, tmp_path / "fp32"))
    load_all(half_engine_set(tiny_engine_dir, tmp_path / "fp16"), workspace_bytes=1 << 30)
    fp32_builds, fp16_builds = fake_tensorrt.BUILDS[:4], fake_tensorrt.BUILDS[4:]
    assert [b["fp16"] for b in fp32_builds] == [False] * 4
    assert [b["fp16"] for b in fp16_builds] == [True] * 4
    assert {b["workspace"] for b in fp32_builds} == {DEFAULT_WORKSPACE_BYTES}
    assert {b["workspace"] for b in fp16_builds} == {1 << 30}
    assert not any(b["strongly_typed"] for b in fake_tensorrt.BUILDS)


def test_tensorrt_11_builds_strongly_typed_networks(fake_gpu, tiny_engine_dir, tmp_path):
    fake_tensorrt.configure("11.4.0.106")
    load_all(half_engine_set(tiny_engine_dir, tmp_path / "fp16"))
    assert all(b["strongly_typed"] and not b["fp16"] for b in fake_tensorrt.BUILDS)


def test_core_picks_the_fp16_set_for_tensorrt(fake_gpu, tiny_engine_dir, tmp_path):
    half = half_engine_set(tiny_engine_dir, tmp_path / "fp16")
    core = quiet_core(model_dir=str(half))
    assert core.describe()["precision"] == "fp16" and core.describe()["backend"] == "tensorrt"


def test_unparsable_onnx_is_a_clear_error(fake_gpu, tmp_path):
    broken = tmp_path / "body.onnx"
    broken.write_bytes(b"not an onnx file")
    with pytest.raises(RuntimeError, match=r"TensorRT cannot parse .*body\.onnx: not a readable ONNX file"):
        TensorRtBackend(0, progress=False).load(broken)


def affine_grid_model(size_from_input: bool) -> onnx.ModelProto:
    """theta (1,2,3) -> AffineGrid to (1,1,8,6) -> GridSample of a constant image."""
    image = np.arange(48, dtype=np.float32).reshape(1, 1, 8, 6)
    nodes = [
        helper.make_node("Constant", [], ["image"], value=numpy_helper.from_array(image, "image")),
        helper.make_node("AffineGrid", ["theta", "size"], ["grid"], align_corners=0),
        helper.make_node("GridSample", ["image", "grid"], ["out"], align_corners=0),
    ]
    inputs = [helper.make_tensor_value_info("theta", TensorProto.FLOAT, [1, 2, 3])]
    if size_from_input:
        inputs.append(helper.make_tensor_value_info("size", TensorProto.INT64, [4]))
    else:
        size = numpy_helper.from_array(np.array([1, 1, 8, 6], np.int64), "size")
        nodes.insert(0, helper.make_node("Constant", [], ["size"], value=size))
    outputs = [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 1, 8, 6])]
    return helper.make_model(
        helper.make_graph(nodes, "g", inputs, outputs), opset_imports=[helper.make_opsetid("", 20)]
    )


def test_affine_grid_is_rewritten_for_tensorrt(fake_gpu, tmp_path):
    path = tmp_path / "grid.onnx"
    onnx.save(affine_grid_model(size_from_input=False), str(path))
    theta = np.array([[[0.9, 0.1, 0.05], [-0.1, 1.1, -0.02]]], np.float32)
    expected = ort.InferenceSession(str(path)).run(None, {"theta": theta})[0]  # ONNX Runtime's AffineGrid
    stage = TensorRtBackend(0, progress=False).load(path)
    (out,) = stage.run({"theta": theta})
    np.testing.assert_allclose(out.to_host(), expected, rtol=1e-5, atol=1e-5)


def test_operators_tensorrt_lacks_are_reported_by_name(fake_gpu, tmp_path):
    path = tmp_path / "grid.onnx"
    onnx.save(affine_grid_model(size_from_input=True), str(path))  # size unknown: cannot be rewritten
    with pytest.raises(
        RuntimeError, match=r"cannot parse .*grid\.onnx: .*No importer registered for op: AffineGrid"
    ):
        TensorRtBackend(0, progress=False).load(path)


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_shows_tensorrt_phases_or_a_stage_line(
    fake_gpu, tiny_engine_dir, tmp_path, capsys, monkeypatch
):
    engine_dir = copy_engine_set(tiny_engine_dir, tmp_path / "set")
    terminal = _Terminal()
    with monkeypatch.context() as patch:
        patch.setattr(sys, "stderr", terminal)  # tqdm draws bars on terminals only
        TensorRtBackend(0, progress=True).load(engine_dir / "body.onnx")
    err = terminal.getvalue()
    assert "Tactic selection" in err and "3/3" in err and "body.onnx done" in err
    monkeypatch.delattr(fake_tensorrt, "IProgressMonitor")
    refresh_manifest(engine_dir)
    TensorRtBackend(0, progress=True).load(engine_dir / "face.onnx")
    err = capsys.readouterr().err
    assert "building face.onnx" in err and "face.onnx done" in err and "Tactic" not in err
