"""Import of ezvtuber-rt THA3 sets: validation, conversion to our stages, and frames."""

import json

import numpy as np
import onnx
import pytest

from ezvtb_node.core.models.import_tha3 import (
    Tha3ImportError,
    find_tha3_sets,
    import_tha3_set,
    validate_tha3_set,
)
from ezvtb_node.core.models.store import load_engine_set
from ezvtb_node.core.models.tha3_build import ensure_engine_set
from tests.gpu.helpers import quiet_core, test_poses
from tests.gpu.tiny_ezvtuber_set import (
    SEPARABLE_ENCODER,
    STANDARD_ENCODER,
    run_reference,
    write_ezvtuber_set,
)


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    """An ezvtuber-rt style ``data`` folder with separable fp32 and standard fp16 sets."""
    data = tmp_path_factory.mktemp("ezvtuber") / "data"
    write_ezvtuber_set(data, "seperable", "fp32")
    write_ezvtuber_set(data, "standard", "fp16")
    return data


def opaque(character):
    image = character.copy()
    image[..., 3] = 255
    return image


def test_finds_every_set_in_the_release_layout(release):
    found = {(variant, precision) for _, variant, precision in find_tha3_sets(release)}
    assert found == {("separable", "fp32"), ("standard", "fp16")}
    one = release / "tha3" / "standard" / "fp16"
    assert find_tha3_sets(one) == [(one, "standard", "fp16")]


def test_validation_reports_names_shapes_and_encoder(release):
    separable = validate_tha3_set(release / "tha3" / "seperable" / "fp32", "separable", "fp32")
    standard = validate_tha3_set(release / "tha3" / "standard" / "fp16", "standard", "fp16")
    assert separable.encoder_tensor == SEPARABLE_ENCODER and standard.encoder_tensor == STANDARD_ENCODER


@pytest.mark.parametrize("variant", ["seperable", "standard"])
def test_imported_set_renders_what_the_five_graphs_render(release, tmp_path, character, variant):
    precision = "fp32" if variant == "seperable" else "fp16"
    written = import_tha3_set(release, tmp_path / "engines")
    engine = load_engine_set(
        tmp_path / "engines" / "tha3" / ("separable" if variant == "seperable" else variant) / precision
    )
    assert engine.path in written and engine.manifest["source"] == "ezvtuber-rt"
    core = quiet_core(model_dir=str(engine.path), cpu_backend="onnxruntime")
    image = opaque(character)
    core.setImage(image)
    for pose in test_poses(3):
        reference = run_reference(release / "tha3" / variant / precision, image, pose)
        difference = np.abs(core.inference(pose)[0].astype(int) - reference).max()
        # fp32: identical; fp16: ONNX Runtime may order fp16 arithmetic differently by 1/255
        assert difference <= (0 if precision == "fp32" else 1)


def test_imported_set_uses_both_caches(release, tmp_path, character):
    import_tha3_set(release, tmp_path / "engines")
    core = quiet_core(model_dir=str(tmp_path / "engines/tha3/separable/fp32"), cpu_backend="onnxruntime")
    core.setImage(opaque(character))
    pose = test_poses(1)[0]
    core.inference(pose)
    pose[0, 40] = 0.9
    core.inference(pose)
    assert core.stats()["model_cache"]["hits"] == 2  # eyebrow (+ encoder) and face reused


def test_import_is_idempotent_and_protects_built_sets(release, tmp_path):
    engines = tmp_path / "engines"
    first = import_tha3_set(release, engines)
    stamp = json.loads((first[0] / "manifest.json").read_text())["imported_at"]
    import_tha3_set(release, engines)
    assert json.loads((first[0] / "manifest.json").read_text())["imported_at"] == stamp
    # A set the core built from weights is not replaced silently.
    manifest = json.loads((first[0] / "manifest.json").read_text())
    del manifest["source"]
    (first[0] / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(Tha3ImportError, match="built from THA3 weights; pass force=True"):
        import_tha3_set(release, engines)
    assert import_tha3_set(release, engines, force=True) == first


def test_imported_sets_are_not_rebuilt_from_weights(release, tmp_path):
    import_tha3_set(release, tmp_path / "engines")
    kept = ensure_engine_set("separable", "fp32", root=tmp_path / "engines", progress=False)
    assert kept.manifest["source"] == "ezvtuber-rt"


def _edit(folder, graph, change):
    path = folder / f"{graph}.onnx"
    model = onnx.load(str(path))
    change(model.graph)
    onnx.save(model, str(path))


@pytest.mark.parametrize(
    ("graph", "change", "message"),
    [
        ("combiner", lambda g: setattr(g.input[3].type.tensor_type.shape.dim[1], "dim_value", 13),
         r"combiner.onnx input 'eyebrow_pose' expected float32 \(1, 12\), got float32 \(1, 13\)"),
        ("rotator", lambda g: setattr(g.input[1], "name", "pose"),
         r"rotator.onnx input 'rotation_pose' \(float32 \(1, 6\)\) is missing "
         r"\(found: \['face_morphed_half', 'pose'\]\)"),
        ("editor", lambda g: setattr(g.output[1].type.tensor_type, "elem_type", onnx.TensorProto.FLOAT),
         r"editor.onnx output 'cv_result' expected uint8 \(512, 512, 4\), got float32"),
        ("morpher", lambda g: setattr(g.input[3], "name", "other_encoder"),
         r"exactly one extra output .* combiner extra outputs \['/face_morpher/body"),
    ],
)  # fmt: skip
def test_invalid_sets_are_rejected_naming_expected_and_found(tmp_path, graph, change, message):
    folder = write_ezvtuber_set(tmp_path / "data", "seperable", "fp32")
    _edit(folder, graph, change)
    with pytest.raises(Tha3ImportError, match=message):
        import_tha3_set(tmp_path / "data", tmp_path / "engines")
    assert not (tmp_path / "engines").exists()


def test_precision_must_match_the_folder(tmp_path):
    folder = write_ezvtuber_set(tmp_path / "data", "seperable", "fp32")
    folder.rename(folder.parent / "fp16")
    with pytest.raises(Tha3ImportError, match=r"expected float16 \(1, 4, 128, 128\), got float32"):
        import_tha3_set(tmp_path / "data", tmp_path / "engines")


def test_missing_files_and_empty_folders(tmp_path):
    folder = write_ezvtuber_set(tmp_path / "data", "standard", "fp32")
    (folder / "editor.onnx").unlink()
    with pytest.raises(Tha3ImportError, match=r"is missing editor\.onnx"):
        import_tha3_set(tmp_path / "data", tmp_path / "engines")
    (tmp_path / "empty").mkdir()
    with pytest.raises(Tha3ImportError, match=r"no ezvtuber-rt THA3 set under .*empty: expected data/tha3"):
        import_tha3_set(tmp_path / "empty", tmp_path / "engines")
    (folder / "decomposer.onnx").write_bytes(b"garbage")
    (folder / "editor.onnx").write_bytes(b"garbage")
    with pytest.raises(Tha3ImportError, match=r"decomposer\.onnx is not a readable ONNX file"):
        import_tha3_set(folder, tmp_path / "engines")


def test_cli_imports_a_release(release, tmp_path, monkeypatch, capsys):
    from ezvtb_node.cli import main

    monkeypatch.setenv("EZVTB_ENGINES_DIR", str(tmp_path / "engines"))
    assert main(["engines", "import", str(release)]) == 0
    out = capsys.readouterr().out
    assert "separable/fp32" in out and "standard/fp16" in out
    assert main(["engines", "list"]) == 0
    listing = capsys.readouterr().out
    assert "separable/fp32  ok  imported" in listing and "standard/fp16  ok  imported" in listing
    assert "from ezvtuber-rt" in listing
    assert main(["engines", "import", str(tmp_path / "nothing-here")]) == 1
    assert "nothing-here does not exist" in capsys.readouterr().err
