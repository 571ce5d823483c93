import numpy as np
import pytest
from PIL import Image
from waiting import bgra_to_rgba, make_frame, send_and_wait

from ezvtb_node.outputs.files import PngSequenceSink, WebpAnimationSink, frame_durations_ms


def record(sink, frames):
    height, width = frames[0].shape[:2]
    sink.open(width, height)
    for frame in frames:
        send_and_wait(sink, frame)
    sink.close()


def test_png_sequence_keeps_every_pixel_and_alpha(tmp_path):
    frames = [make_frame(40, 56, seed, alpha="any") for seed in range(3)]
    out = tmp_path / "new" / "frames"
    record(PngSequenceSink(out), frames)
    names = sorted(p.name for p in out.iterdir())
    assert names == ["frame_000000.png", "frame_000001.png", "frame_000002.png"]
    for name, frame in zip(names, frames, strict=True):
        with Image.open(out / name) as image:
            assert image.mode == "RGBA"
            np.testing.assert_array_equal(np.asarray(image), bgra_to_rgba(frame))


def test_png_sequence_refuses_to_mix_with_an_earlier_recording(tmp_path):
    record(PngSequenceSink(tmp_path), [make_frame(8, 8, 0)])
    with pytest.raises(ValueError, match="already holds frame_"):
        PngSequenceSink(tmp_path).open(8, 8)
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(ValueError, match="is a file"):
        PngSequenceSink(tmp_path / "file.txt").open(8, 8)


def test_animated_webp_is_lossless_with_alpha_and_timed_by_fps(tmp_path):
    frames = [make_frame(32, 48, seed, alpha="any") for seed in range(6)]
    path = tmp_path / "clip.webp"
    record(WebpAnimationSink(path, fps=60), frames)
    assert not (tmp_path / "clip.webp.part").exists()
    with Image.open(path) as image:
        assert image.n_frames == 6
        total_ms = 0
        for index, frame in enumerate(frames):
            image.seek(index)
            decoded = np.asarray(image.convert("RGBA"))
            expected = bgra_to_rgba(frame)
            # Alpha is exact everywhere, colour wherever it can be seen (the animation encoder may
            # clear the hidden colour of fully transparent pixels).
            np.testing.assert_array_equal(decoded[..., 3], expected[..., 3])
            visible = expected[..., 3] > 0
            np.testing.assert_array_equal(decoded[visible], expected[visible])
            total_ms += image.info["duration"]  # known once the frame is decoded
        assert total_ms == 100  # 6 frames at 60 fps


def test_animation_memory_budget_drops_later_frames(tmp_path):
    frames = [make_frame(16, 16, seed) for seed in range(5)]
    sink = WebpAnimationSink(tmp_path / "short.webp", budget_bytes=3 * frames[0].nbytes)
    record(sink, frames)
    assert sink.stats()["over_budget"] == 2
    with Image.open(tmp_path / "short.webp") as image:
        assert image.n_frames == 3


def test_animation_arguments_are_checked(tmp_path):
    with pytest.raises(ValueError, match=r"must end in \.webp"):
        WebpAnimationSink(tmp_path / "clip.gif")
    with pytest.raises(ValueError, match="does not exist"):
        WebpAnimationSink(tmp_path / "missing" / "clip.webp").open(8, 8)


def test_frame_durations_add_up_to_the_exact_time():
    durations = frame_durations_ms(60, 60.0)
    assert set(durations) == {16, 17}
    assert sum(durations) == 1000
