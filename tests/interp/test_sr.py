"""Super-resolution: embedded upscalers (alpha handling) and imported ONNX files."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from ezvtb_node.core.models.import_onnx import import_model
from ezvtb_node.core.sr import BicubicUpscaler, OnnxUpscaler, make_upscaler


def red_square_hiding_green() -> np.ndarray:
    """Opaque red square; the transparent pixels around it hold bright green colour."""
    frame = np.zeros((512, 512, 4), np.uint8)
    frame[:, :] = (0, 255, 0, 0)
    frame[192:320, 192:320] = (0, 0, 255, 255)
    return frame


def smooth_picture() -> np.ndarray:
    ys, xs = np.mgrid[0:512, 0:512].astype(np.float32)
    frame = np.empty((512, 512, 4), np.uint8)
    frame[:, :, 0] = 128 + 100 * np.sin(xs / 23.0)
    frame[:, :, 1] = 128 + 100 * np.cos(ys / 31.0)
    frame[:, :, 2] = (xs + ys) / 4
    frame[:, :, 3] = 255
    return frame


EMBEDDED = [BicubicUpscaler]


@pytest.mark.parametrize("cls", EMBEDDED)
@pytest.mark.parametrize("scale", [2, 4])
def test_embedded_upscalers_give_bgra_of_the_scaled_size(cls, scale):
    out = cls(scale).upscale(smooth_picture())
    assert out.shape == (512 * scale, 512 * scale, 4) and out.dtype == np.uint8


@pytest.mark.parametrize("cls", EMBEDDED)
def test_hidden_colour_does_not_bleed_into_edges(cls):
    out = cls(2).upscale(red_square_hiding_green())
    alpha = out[:, :, 3]
    # Scaling straight colour puts up to 191/255 green into these edge pixels; premultiplied
    # scaling leaves only the filter's own ringing.
    assert out[:, :, 1][alpha >= 32].max() <= 16
    assert np.all(out[alpha == 0][:, :3] == 0)  # fully transparent pixels come out (0,0,0,0)


@pytest.mark.parametrize("cls", EMBEDDED)
def test_alpha_is_upscaled_with_a_clean_edge(cls):
    alpha = cls(2).upscale(red_square_hiding_green())[:, :, 3]
    assert alpha[400:624, 400:624].min() >= 250 and alpha[:360].max() <= 5
    row = alpha[512, 360:400].astype(int)  # across the left edge: one step, small ringing
    assert row[:12].max() <= 12 and row[-12:].min() >= 240
    assert np.count_nonzero(np.diff(np.sign(row - 128))) == 1


@pytest.mark.parametrize("cls", EMBEDDED)
def test_content_is_kept(cls):
    frame = smooth_picture()
    out = cls(2).upscale(frame)
    reference = cv2.resize(frame, (1024, 1024), interpolation=cv2.INTER_CUBIC)
    mse = np.mean((out[8:-8, 8:-8].astype(float) - reference[8:-8, 8:-8]) ** 2)
    assert mse < 255**2 / 1000  # PSNR above 30 dB


@pytest.mark.parametrize(("input_name", "scale"), [("x", 2), ("input", 4)])
def test_imported_sr_file_runs_on_the_cpu_runtime(sr_model, random_frames, tmp_path, input_name, scale):
    import_model(sr_model(input_name=input_name, scale=scale), tmp_path)
    upscaler = make_upscaler("auto", scale, engines_dir=tmp_path)
    assert isinstance(upscaler, OnnxUpscaler)
    frame = random_frames[0]
    expected = frame.repeat(scale, axis=0).repeat(scale, axis=1)
    assert np.array_equal(upscaler.upscale(frame), expected)
    family = "waifu2x" if input_name == "x" else "realesrgan"
    assert upscaler.describe() == {
        "upscaler": family,
        "scale": scale,
        "model": str(tmp_path / "sr" / f"{family}_x{scale}" / "fp32.onnx"),
        "precision": "fp32",
        "backend": "openvino",
    }


def test_a_rife_file_cannot_be_used_as_upscaler(rife_model):
    with pytest.raises(ValueError, match="expected a super-resolution model, found a rife model"):
        OnnxUpscaler(rife_model())


def test_auto_without_imports_uses_the_embedded_bicubic(tmp_path):
    upscaler = make_upscaler("auto", 2, engines_dir=tmp_path)
    assert upscaler.describe()["upscaler"] == "bicubic"


def test_named_model_that_is_not_imported_says_how_to_import(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"no imported waifu2x model for x2.*engines import"):
        make_upscaler("waifu2x", 2, engines_dir=tmp_path)


@pytest.mark.parametrize(
    ("kwargs", "message"), [({"model": "esrgan"}, "must be one of"), ({"scale": 3}, "2 or 4")]
)
def test_bad_options_are_rejected(kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_upscaler(**kwargs)


def test_bad_frame_is_rejected():
    with pytest.raises(
        ValueError, match=r"expected uint8 BGRA array of shape \(512, 512, 4\), got uint8 \(512, 512, 3\)"
    ):
        BicubicUpscaler(2).upscale(np.zeros((512, 512, 3), np.uint8))
