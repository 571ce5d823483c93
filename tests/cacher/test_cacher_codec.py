import logging

import numpy as np
import pytest
from cacher_helpers import character

from ezvtb_node.core.cacher import codec as codec_module
from ezvtb_node.core.cacher.codec import FrameCodec, PillowJpegBackend, TurboJpegBackend


def _psnr_where_visible(a: np.ndarray, b: np.ndarray) -> float:
    visible = a[..., 3] > 0
    diff = a[..., :3][visible].astype(np.float64) - b[..., :3][visible]
    return 10 * np.log10(255**2 / np.mean(diff**2))


def test_quality_100_round_trips_byte_exact():
    frame = character()
    codec = FrameCodec(100)
    encoded = codec.encode(frame)
    assert encoded.codec == "raw" and encoded.size == frame.nbytes
    assert np.array_equal(codec.decode(encoded), frame)


@pytest.mark.parametrize("backend", [TurboJpegBackend, PillowJpegBackend])
@pytest.mark.parametrize(("quality", "min_psnr"), [(70, 29), (85, 32)])
def test_jpeg_keeps_alpha_exact_and_colour_close(backend, quality, min_psnr):
    frame = character()
    codec = FrameCodec(quality, backend())
    encoded = codec.encode(frame)
    assert encoded.codec == "jpeg"
    assert encoded.size < frame.nbytes / 8  # it does compress
    decoded = codec.decode(encoded)
    assert decoded.shape == frame.shape and decoded.dtype == np.uint8
    assert np.array_equal(decoded[..., 3], frame[..., 3])  # alpha edges never move
    assert _psnr_where_visible(frame, decoded) > min_psnr
    # colour channels stay in BGR order (a swap would ruin the PSNR of a blue-ish vs red-ish pixel)
    assert np.abs(decoded[..., :3].mean((0, 1)) - frame[..., :3].mean((0, 1))).max() < 2


def test_the_turbojpeg_codec_is_the_default_here():
    assert "libjpeg-turbo" in FrameCodec(85).name


def test_fallback_to_pillow_warns_once(monkeypatch, caplog):
    def broken(self):
        raise OSError("libturbojpeg.so.0: cannot open shared object file")

    monkeypatch.setattr(TurboJpegBackend, "__init__", broken)
    monkeypatch.setattr(codec_module, "_backend", None)
    with caplog.at_level(logging.WARNING):
        first = FrameCodec(85)
        second = FrameCodec(70)
        frame = character()
        assert np.array_equal(second.decode(second.encode(frame))[..., 3], frame[..., 3])
    assert "Pillow" in first.name and "Pillow" in second.name
    warnings = [r for r in caplog.records if "libjpeg-turbo could not be loaded" in r.message]
    assert len(warnings) == 1
    assert "apt-get install libturbojpeg0" in warnings[0].message


@pytest.mark.parametrize("quality", [0, 101, 85.0, True, "85"])
def test_bad_quality_is_refused(quality):
    with pytest.raises(ValueError, match="1 to 100"):
        FrameCodec(quality)


@pytest.mark.parametrize(
    "frame", [np.zeros((512, 512, 3), np.uint8), np.zeros((512, 512, 4), np.float32), [[0, 0, 0, 0]]]
)
def test_bad_frames_are_refused(frame):
    with pytest.raises(ValueError, match="BGRA"):
        FrameCodec(85).encode(frame)


def test_checksum_sees_a_flipped_byte():
    encoded = FrameCodec(85).encode(character())
    damaged = codec_module.EncodedFrame(
        encoded.codec,
        encoded.width,
        encoded.height,
        encoded.colour[:-10] + b"x" + encoded.colour[-9:],
        encoded.alpha,
    )
    assert damaged.checksum() != encoded.checksum()
