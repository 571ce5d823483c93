import io
import json
from typing import ClassVar

import numpy as np
import pytest
from cacher_helpers import character, frame_for, pose_for
from PIL import Image

import ezvtb_node.core
from ezvtb_node import cli
from ezvtb_node.core.cacher import FrameCacher, image_digest, warm
from ezvtb_node.core.cacher.warm import grid_poses, parse_grid, read_pose_lines


def test_warm_renders_each_bucket_once_and_stores_it(tmp_path):
    rendered = []

    def render(pose):
        rendered.append(pose.copy())
        return frame_for(pose)

    near = pose_for(1).copy()
    near[0, 39] += 0.001  # same bucket as pose_for(1)
    poses = [pose_for(0), pose_for(1), near, pose_for(2)]
    with FrameCacher(True, 100, 0.0, tmp_path / "f.db") as cacher:
        cacher.set_context("img", "eng")
        result = warm(cacher, render, poses, progress=False)
        assert (result.poses, result.rendered, result.already_cached) == (4, 3, 1)
        # the renderer saw bucket centres, so every pose of a bucket shows one frame
        for got, pose in zip(rendered, (pose_for(0), pose_for(1), pose_for(2)), strict=True):
            assert np.array_equal(got, cacher.snap(pose))
        again = warm(cacher, render, poses, progress=False)
        assert again.rendered == 0 and again.already_cached == 4
    with FrameCacher(True, 100, 0.0, tmp_path / "f.db") as reopened:
        reopened.set_context("img", "eng")
        assert np.array_equal(reopened.get(near), frame_for(reopened.snap(pose_for(1))))


def test_warm_never_drops_when_the_renderer_outruns_the_writer(tmp_path):
    with FrameCacher(True, 85, 0.0, tmp_path / "f.db", queue_frames=1) as cacher:
        cacher.set_context("img", "eng")
        result = warm(cacher, lambda pose: character(), (pose_for(i) for i in range(12)), progress=False)
        stats = cacher.stats()
    assert result.rendered == 12 and stats["dropped_writes"] == 0 and stats["db_entries"] == 12


def test_pose_lines_are_read_and_errors_name_the_line():
    good = json.dumps([0.0] * 44 + [0.5])
    poses = list(read_pose_lines(io.StringIO(f"{good}\n\n{good}\n")))
    assert len(poses) == 2 and poses[0].shape == (1, 45) and poses[0][0, 44] == np.float32(0.5)
    with pytest.raises(ValueError, match=r"poses.jsonl:2: .*got 3 values"):
        list(read_pose_lines(io.StringIO(f"{good}\n[1, 2, 3]\n"), "poses.jsonl"))
    with pytest.raises(ValueError, match=r":1: expected a JSON array"):
        list(read_pose_lines(io.StringIO('{"t": 0.1, "channels": {}}x\n')))
    with pytest.raises(ValueError, match="numbers"):
        list(read_pose_lines(io.StringIO(json.dumps(["a"] * 45))))


def test_grid_spec():
    axes = parse_grid("head_x=-1:1:5, mouth_aaa=0:1:3")
    poses = list(grid_poses(axes))
    assert len(poses) == 15
    assert {float(p[0, 39]) for p in poses} == {-1.0, -0.5, 0.0, 0.5, 1.0}
    assert {float(p[0, 26]) for p in poses} == {0.0, 0.5, 1.0}
    assert all(np.count_nonzero(p[0, :26]) == 0 for p in poses)
    for bad, message in (
        ("nose=0:1:3", "not a THA3 pose parameter"),
        ("head_x=0:1", "name=low:high:count"),
        ("mouth_aaa=-1:1:3", "0 <= low"),
        ("", "empty grid"),
    ):
        with pytest.raises(ValueError, match=message):
            parse_grid(bad)


class StandInCore:
    """Renders a frame from the image and the pose (deterministic), like Core.inference's last frame."""

    engine_id = "stand-in/separable/fp32"
    calls: ClassVar[list[dict]] = []

    def __init__(self, **options):
        StandInCore.calls.append(options)
        self.image = None
        self.out = np.zeros((512, 512, 4), np.uint8)

    def setImage(self, image):
        self.image = image.copy()
        self.image_digest = image_digest(image)

    def inference(self, pose):
        self.out[:] = np.roll(self.image, round(float(pose[0, 39]) * 100), axis=1)
        return [self.out]


@pytest.fixture
def character_png(tmp_path):
    path = tmp_path / "character.png"
    Image.fromarray(character()[..., [2, 1, 0, 3]], "RGBA").save(path)
    return path


def test_cli_warm_info_clear(tmp_path, monkeypatch, capsys, character_png):
    monkeypatch.setattr(ezvtb_node.core, "get_core", StandInCore, raising=False)
    db = tmp_path / "cache.db"
    args = ["cache", "warm", "--image", str(character_png), "--db", str(db), "--grid", "head_x=-1:1:5"]
    assert cli.main([*args, "--core-option", "model_half=false"]) == 0
    assert StandInCore.calls[-1] == {"use_cacher": False, "use_interpolation": False, "model_half": False}
    assert "5 rendered" in capsys.readouterr().out

    # what the node would see at stream time: the same image digest and engine id hit
    with FrameCacher(True, 85, 0.1, db) as cacher:
        cacher.set_context(image_digest(character()), StandInCore.engine_id)
        pose = np.zeros((1, 45), np.float32)
        pose[0, 39] = 0.5
        hit = cacher.get(pose)
        assert hit is not None
        expected = np.roll(character(), 50, axis=1)
        assert np.array_equal(hit[..., 3], expected[..., 3])

    assert cli.main(["cache", "info", "--db", str(db), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["entries"] == 5 and info["contexts"] == 1 and info["stored_bytes"] > 0

    assert cli.main(["cache", "clear", "--db", str(db)]) == 0
    assert "removed 5 frames" in capsys.readouterr().out
    assert cli.main(["cache", "info", "--db", str(db), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["entries"] == 0


def test_cli_warm_from_pose_lines(tmp_path, monkeypatch, capsys, character_png):
    monkeypatch.setattr(ezvtb_node.core, "get_core", StandInCore, raising=False)
    poses = tmp_path / "poses.jsonl"
    poses.write_text("\n".join(json.dumps(pose_for(i)[0].tolist()) for i in (0, 1, 1, 2)) + "\n")
    db = tmp_path / "cache.db"
    assert (
        cli.main(["cache", "warm", "--image", str(character_png), "--db", str(db), "--poses", str(poses)])
        == 0
    )
    assert "3 rendered, 1 already cached of 4 poses" in capsys.readouterr().out


def test_cli_errors_are_clear(tmp_path, capsys, character_png):
    assert cli.main(["cache", "info", "--db", str(tmp_path / "missing.db")]) == 1
    assert "no frame cache at" in capsys.readouterr().err
    notes = tmp_path / "notes.txt"
    notes.write_text("hello")
    assert cli.main(["cache", "clear", "--db", str(notes)]) == 1
    assert "not an SQLite database" in capsys.readouterr().err
    small = tmp_path / "small.png"
    Image.new("RGBA", (256, 256)).save(small)
    assert (
        cli.main(
            ["cache", "warm", "--image", str(small), "--grid", "head_x=0:1:2", "--db", str(tmp_path / "c")]
        )
        == 1
    )
    assert "must be 512x512" in capsys.readouterr().err


def test_cli_clear_on_a_locked_database_is_a_clear_error(tmp_path, monkeypatch, capsys):
    import sqlite3

    from ezvtb_node.core.cacher import sqlite_store

    db = tmp_path / "cache.db"
    with FrameCacher(True, 100, 0.0, db) as cacher:
        cacher.set_context("img", "eng")
        cacher.put(pose_for(0), frame_for(pose_for(0)))
    monkeypatch.setattr(sqlite_store, "_BUSY_TIMEOUT_S", 0.1)
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # a running node in the middle of a write
    try:
        assert cli.main(["cache", "clear", "--db", str(db)]) == 1
        assert "locked" in capsys.readouterr().err
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert cli.main(["cache", "info", "--db", str(db), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["entries"] == 1  # nothing was lost


def test_warmed_frames_hit_in_a_real_core_on_its_first_lookup(tmp_path, capsys):
    """The contract that matters: `cache warm`, then a node's core with the same engine and
    database hits at once, also for an image with transparent pixels (zeroed by the core)."""
    import warnings

    from ezvtb_node.core import get_core
    from tests.core.tiny_engine import write_tiny_engine

    engine = write_tiny_engine(tmp_path / "engine")
    image = character()
    image[:40, :40] = (10, 20, 30, 0)  # colour under fully transparent pixels
    png = tmp_path / "me.png"
    Image.fromarray(image[..., [2, 1, 0, 3]], "RGBA").save(png)
    db = tmp_path / "cache.db"
    model_dir = json.dumps(str(engine))
    assert cli.main(["cache", "warm", "--image", str(png), "--db", str(db), "--grid", "head_x=-1:1:5",
                     "--core-option", f"model_dir={model_dir}"]) == 0  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        core = get_core(
            model_dir=str(engine), use_interpolation=False, cacher_on_database=True, cacher_db_path=str(db)
        )
    with core:
        from ezvtb_node.character import load_character

        core.setImage(load_character(png))
        pose = np.zeros((1, 45), np.float32)
        pose[0, 39] = 0.5
        core.inference(pose)
        assert core.stats()["cacher"]["hits"] == 1
