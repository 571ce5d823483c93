"""fp16 graphs keep every node on the GPU: ops without a float16 CUDA kernel (GridSample) run in
float32 inside them, in exported and imported sets alike; older imported sets are upgraded in place.

CPU-side: the walk reads the graphs (``float16_gaps``), ONNX Runtime's CPU provider runs them.
"""

import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from ezvtb_node.core.models import tha3_build
from ezvtb_node.core.models.fp16_islands import NO_FLOAT16_CUDA_KERNEL, compute_in_float32, float16_gaps
from ezvtb_node.core.models.import_tha3 import import_tha3_set
from ezvtb_node.core.models.layout import EXPORT_FORMAT, STAGE_FILES
from ezvtb_node.core.models.store import load_engine_set
from tests.gpu.tiny_ezvtuber_set import write_ezvtuber_set

H = TensorProto.FLOAT16


def grid_sample_graph(element=H, opset: int = 17) -> onnx.ModelProto:
    """image (1,2,6,5) and grid (1,4,3,2) → GridSample → × 2: a float16 graph by default."""
    two = numpy_helper.from_array(np.array(2.0, onnx.helper.tensor_dtype_to_np_dtype(element)), "two")
    graph = helper.make_graph(
        [
            helper.make_node("GridSample", ["image", "grid"], ["sampled"], name="warp", align_corners=0),
            helper.make_node("Mul", ["sampled", "two"], ["out"]),
        ],
        "warp",
        [
            helper.make_tensor_value_info("image", element, [1, 2, 6, 5]),
            helper.make_tensor_value_info("grid", element, [1, 4, 3, 2]),
        ],
        [helper.make_tensor_value_info("out", element, [1, 2, 4, 3])],
        [two],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def run(model: onnx.ModelProto, feeds: dict) -> np.ndarray:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, feeds)[0]


def warp_feeds(dtype=np.float16) -> dict:
    rng = np.random.default_rng(3)
    return {
        "image": rng.normal(size=(1, 2, 6, 5)).astype(dtype),
        "grid": rng.uniform(-1.1, 1.1, size=(1, 4, 3, 2)).astype(dtype),
    }


def test_grid_sample_reading_float16_is_a_gap_of_the_cuda_provider():
    (gap,) = float16_gaps(grid_sample_graph())
    assert (gap.op_type, gap.node, gap.float16_inputs) == ("GridSample", "warp", ("image", "grid"))
    assert "GridSample" in NO_FLOAT16_CUDA_KERNEL


def test_the_float32_island_closes_the_gap_and_keeps_names_types_and_values():
    model = grid_sample_graph()
    before = run(model, warp_feeds())
    assert compute_in_float32(model) == 1
    onnx.checker.check_model(model, full_check=True)
    assert float16_gaps(model) == []
    (grid_sample,) = [n for n in model.graph.node if n.op_type == "GridSample"]
    casts_in = [n for n in model.graph.node if n.op_type == "Cast" and n.output[0] in grid_sample.input]
    assert [c.attribute[0].i for c in casts_in] == [TensorProto.FLOAT, TensorProto.FLOAT]
    after = run(model, warp_feeds())
    assert after.dtype == np.float16
    # ONNX Runtime's CPU provider has no float16 GridSample either and casts the same way itself.
    np.testing.assert_array_equal(after, before)


def test_the_rewrite_is_idempotent_and_leaves_float32_graphs_alone():
    model = grid_sample_graph()
    compute_in_float32(model)
    once = model.SerializeToString()
    assert compute_in_float32(model) == 0
    assert model.SerializeToString() == once
    wide = grid_sample_graph(TensorProto.FLOAT)
    assert float16_gaps(wide) == [] and compute_in_float32(wide) == 0


@pytest.mark.parametrize(("opset", "gap"), [(11, True), (13, False)])
def test_gaps_follow_the_opset_ranges_of_the_kernel_list(opset, gap):
    """Clip has float16 CUDA kernels from opset 12 only (OperatorKernels.md)."""
    graph = helper.make_graph(
        [helper.make_node("Clip", ["x"], ["y"], name="clip")],
        "clip",
        [helper.make_tensor_value_info("x", H, [3])],
        [helper.make_tensor_value_info("y", H, [3])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    assert bool(float16_gaps(model)) is gap


def stage_graphs(folder) -> dict[str, onnx.ModelProto]:
    return {stage: onnx.load(str(folder / name)) for stage, name in STAGE_FILES.items()}


def test_every_fp16_graph_of_an_imported_release_stays_on_the_gpu(tmp_path):
    release = write_ezvtuber_set(tmp_path / "data", "seperable", "fp16")
    # The release itself has the gap (its editor samples in float16): the walk can fail.
    assert [g.op_type for g in float16_gaps(onnx.load(str(release / "editor.onnx")))] == ["GridSample"]
    (target,) = import_tha3_set(tmp_path / "data", tmp_path / "engines")
    for stage, model in stage_graphs(target).items():
        assert float16_gaps(model) == [], stage
    assert "GridSample" in {n.op_type for n in stage_graphs(target)["body"].graph.node}


def old_format_import(tmp_path, monkeypatch):
    """An fp16 set as the importer of engine format 3 left it: no float32 islands, format 3."""
    write_ezvtuber_set(tmp_path / "data", "seperable", "fp16")
    with monkeypatch.context() as patch:
        patch.setattr("ezvtb_node.core.models.fp16_islands.compute_in_float32", lambda model: 0)
        (target,) = import_tha3_set(tmp_path / "data", tmp_path / "engines")
    manifest_path = target / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["export_format"] = 3
    manifest_path.write_text(json.dumps(manifest))
    return target, manifest


def test_an_imported_set_of_an_older_format_is_upgraded_in_place(tmp_path, monkeypatch):
    target, old_manifest = old_format_import(tmp_path, monkeypatch)
    old_graphs = stage_graphs(target)
    assert float16_gaps(old_graphs["body"])
    weights = {
        stage: {t.name: t.raw_data for t in model.graph.initializer} for stage, model in old_graphs.items()
    }

    def no_rebuild(*args, **kwargs):
        raise AssertionError("an imported set must never be rebuilt from weights")

    monkeypatch.setattr(tha3_build, "build_engine_set", no_rebuild)
    upgraded = tha3_build.ensure_engine_set("separable", "fp16", root=tmp_path / "engines", progress=False)

    assert upgraded.path == target
    manifest = upgraded.manifest
    assert manifest["export_format"] == EXPORT_FORMAT and manifest["upgraded_from_format"] == 3
    for key in ("source", "source_sha256", "source_folder", "encoder_tensor", "io", "variant", "precision"):
        assert manifest[key] == old_manifest[key], key
    assert manifest["files"] != old_manifest["files"]
    load_engine_set(target)  # every file matches the new manifest
    for stage, model in stage_graphs(target).items():
        assert float16_gaps(model) == [], stage
        kept = {t.name: t.raw_data for t in model.graph.initializer}
        assert {name: kept.get(name) for name in weights[stage]} == weights[stage], stage
    # Up to date now: a second look changes nothing.
    again = tha3_build.ensure_engine_set("separable", "fp16", root=tmp_path / "engines", progress=False)
    assert again.manifest["files"] == manifest["files"]


def test_an_upgrade_that_cannot_run_leaves_the_old_set_running(tmp_path, monkeypatch):
    target, old_manifest = old_format_import(tmp_path, monkeypatch)

    def onnx_missing():
        raise RuntimeError("importing ONNX sets needs the onnx package")

    monkeypatch.setattr("ezvtb_node.core.models.import_tha3._onnx", onnx_missing)
    kept = tha3_build.ensure_engine_set("separable", "fp16", root=tmp_path / "engines", progress=False)
    assert kept.manifest == old_manifest
    assert load_engine_set(target).manifest["export_format"] == 3


def test_an_upgrade_that_fails_while_writing_leaves_the_old_set_whole(tmp_path, monkeypatch):
    target, old_manifest = old_format_import(tmp_path, monkeypatch)
    rewritten = []

    def rewrite_fails_on_the_third_graph(model, half, merge_convs):
        rewritten.append(model.graph.name)
        if len(rewritten) == 3:
            raise RuntimeError("disk full")
        return 0

    monkeypatch.setattr(
        "ezvtb_node.core.models.lowering.rewrite_for_runtimes", rewrite_fails_on_the_third_graph
    )
    kept = tha3_build.ensure_engine_set("separable", "fp16", root=tmp_path / "engines", progress=False)

    assert len(rewritten) == 3
    assert kept.manifest == old_manifest
    assert load_engine_set(target).manifest == old_manifest  # every old file still matches it
    assert [p.name for p in target.parent.iterdir()] == ["fp16"]
