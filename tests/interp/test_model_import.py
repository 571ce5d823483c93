"""Validation and import of user RIFE / SR ONNX files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from onnx import TensorProto

from ezvtb_node.core.models.import_onnx import import_model, validate_model
from ezvtb_node.core.models.store import find_rife_model, find_sr_model


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_rife_files_are_recognised_with_their_scale(rife_model, scale):
    info = validate_model(rife_model(scale=scale))
    assert (info.kind, info.scale, info.precision, info.family) == ("rife", scale, "fp32", "rife")


def test_precision_is_read_from_the_weights_not_the_name(rife_model):
    assert validate_model(rife_model(half=True)).precision == "fp16"
    assert validate_model(rife_model(half=True), precision="fp32").precision == "fp32"


@pytest.mark.parametrize(("input_name", "family", "scale"), [("x", "waifu2x", 2), ("input", "realesrgan", 4)])
def test_sr_files_are_recognised(sr_model, input_name, family, scale):
    info = validate_model(sr_model(input_name=input_name, scale=scale))
    assert (info.kind, info.family, info.scale) == ("sr", family, scale)


@pytest.mark.parametrize(
    ("kwargs", "expected_words"),
    [
        ({"input_names": ("img0", "img1")}, ["tha_img_0", "'img0'"]),
        ({"input_type": TensorProto.FLOAT}, ["must be uint8 (512, 512, 4) BGRA, found 'tha_img_0' float"]),
        (
            {"input_shape": [256, 256, 4]},
            ["must be uint8 (512, 512, 4) BGRA, found 'tha_img_0' uint8 (256, 256, 4)"],
        ),
        ({"output_names": ["interpo_0", "result"]}, ["tha_res", "'result'"]),
        ({"output_names": ["interpo_0", "interpo_1", "interpo_2", "interpo_3", "tha_res"]}, ["n = 2, 3"]),
    ],
)
def test_broken_rife_files_name_expected_and_found(rife_model, kwargs, expected_words):
    with pytest.raises(ValueError) as err:
        validate_model(rife_model(**kwargs))
    for word in expected_words:
        assert word in str(err.value)


def test_sr_with_wrong_output_shape_is_rejected(sr_model):
    with pytest.raises(ValueError, match=r"\(1024, 1024, 4\) for x2.*found 'out' uint8 \(1536, 1536, 4\)"):
        validate_model(sr_model(scale=3))


def test_files_that_are_not_models_are_rejected(tmp_path):
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a protobuf at all")
    with pytest.raises(ValueError, match="not a loadable ONNX model"):
        validate_model(junk)
    with pytest.raises(FileNotFoundError, match=r"missing\.onnx"):
        validate_model(tmp_path / "missing.onnx")


def test_import_copies_into_the_released_layout(rife_model, sr_model, tmp_path):
    engines = tmp_path / "engines"
    rife = import_model(rife_model(scale=3, half=True), engines)
    assert rife == engines / "rife_512" / "x3" / "fp16.onnx"
    assert validate_model(rife).scale == 3
    sr = import_model(sr_model(input_name="input", scale=4), engines)
    assert sr == engines / "sr" / "realesrgan_x4" / "fp32.onnx"
    assert find_sr_model("realesrgan", 4, half=True, engines_dir=engines) == sr
    assert find_sr_model("waifu2x", 2, half=True, engines_dir=engines) is None


def test_lookup_prefers_the_requested_precision_then_the_other(rife_model, tmp_path):
    engines = tmp_path / "engines"
    fp32 = import_model(rife_model(scale=2), engines)
    assert find_rife_model(2, half=True, engines_dir=engines) == fp32
    fp16 = import_model(rife_model(scale=2, half=True), engines)
    assert find_rife_model(2, half=True, engines_dir=engines) == fp16
    assert find_rife_model(2, half=False, engines_dir=engines) == fp32
    assert find_rife_model(4, half=False, engines_dir=engines) is None


def test_failed_import_keeps_the_existing_model(rife_model, tmp_path):
    engines = tmp_path / "engines"
    good = import_model(rife_model(scale=2), engines)
    before = good.read_bytes()
    with pytest.raises(ValueError):
        import_model(rife_model(scale=2, input_type=TensorProto.FLOAT), engines)
    assert good.read_bytes() == before
    assert [p.name for p in Path(good.parent).iterdir()] == ["fp32.onnx"]


def test_engines_import_cli_copies_and_reports(tmp_path, monkeypatch, capsys, rife_model):
    from ezvtb_node.cli import main

    monkeypatch.setenv("EZVTB_ENGINES_DIR", str(tmp_path / "engines"))
    source = rife_model(scale=3)
    assert main(["engines", "import", str(source)]) == 0
    assert (tmp_path / "engines" / "rife_512" / "x3" / "fp32.onnx").is_file()
    assert "rife x3 fp32" in capsys.readouterr().out


def test_engines_import_cli_rejects_a_wrong_file_clearly(tmp_path, capsys):
    from ezvtb_node.cli import main

    bogus = tmp_path / "model.onnx"
    bogus.write_bytes(b"not an onnx file")
    assert main(["engines", "import", str(bogus)]) == 1
    assert "engines: error:" in capsys.readouterr().err


def test_an_imported_fp16_rife_file_computes_grid_sample_in_float32(rife_model, random_frames, tmp_path):
    """RIFE warps frames with GridSample, which ONNX Runtime's CUDA provider runs in float only:
    the stored file runs it in float32 (same frames), so every node stays on the GPU."""
    import onnx
    import onnxruntime as ort

    from ezvtb_node.core.models.fp16_islands import float16_gaps

    source = rife_model(scale=2, half=True, warp=True)
    assert [gap.op_type for gap in float16_gaps(onnx.load(str(source)))] == ["GridSample"]
    stored = import_model(source, tmp_path)
    assert float16_gaps(onnx.load(str(stored))) == []
    feeds = {"tha_img_0": random_frames[0], "tha_img_1": random_frames[1]}

    def frames(path):
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        return session.run(None, feeds)

    for ours, theirs in zip(frames(stored), frames(source), strict=True):
        np.testing.assert_array_equal(ours, theirs)
