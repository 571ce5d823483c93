"""The frame cacher inside the core: hits skip THA3, persist across cores, never cross images."""

import warnings

import numpy as np
import pytest

from ezvtb_node.core import get_core


def make_core(tiny_engine_dir, **options):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return get_core(
            model_dir=str(tiny_engine_dir), use_interpolation=False, cacher_quality=100, **options
        )


def a_pose(head_x: float) -> np.ndarray:
    pose = np.zeros((1, 45), np.float32)
    pose[0, 39] = head_x
    pose[0, 26] = 0.5
    return pose


def test_repeated_pose_is_served_from_the_cacher(tiny_engine_dir, character):
    core = make_core(tiny_engine_dir, use_cacher=True, cacher_on_database=False)
    core.setImage(character)
    first = core.inference(a_pose(0.3))[0].copy()
    # The cacher stores frames on its own thread: wait for it, or the next lookup may run first.
    core._cacher.flush()
    body_runs = core.stats()["model_cache"]
    second = core.inference(a_pose(0.3))[0]
    np.testing.assert_array_equal(first, second)
    stats = core.stats()
    assert stats["cacher"]["hits"] == 1 and stats["cacher"]["misses"] == 1
    assert stats["model_cache"] == body_runs, "a cacher hit must not run any THA3 stage"
    core.close()


def test_database_survives_a_new_core(tiny_engine_dir, character, tmp_path):
    db = tmp_path / "frames.sqlite3"
    with make_core(tiny_engine_dir, use_cacher=True, cacher_on_database=True, cacher_db_path=str(db)) as core:
        core.setImage(character)
        stored = core.inference(a_pose(-0.2))[0].copy()
    with make_core(
        tiny_engine_dir, use_cacher=True, cacher_on_database=True, cacher_db_path=str(db)
    ) as again:
        again.setImage(character)
        np.testing.assert_array_equal(again.inference(a_pose(-0.2))[0], stored)
        assert again.stats()["cacher"]["hits"] == 1, "the first lookup of a new process must hit"


def test_another_image_never_hits_the_first_images_frames(tiny_engine_dir, character):
    core = make_core(tiny_engine_dir, use_cacher=True, cacher_on_database=False)
    core.setImage(character)
    core.inference(a_pose(0.1))
    core._cacher.flush()  # the first image's frame is stored, so a wrong hit would show
    other = character.copy()
    other[..., 1] = 255 - other[..., 1]
    core.setImage(other)
    frame = core.inference(a_pose(0.1))[0]
    assert core.stats()["cacher"]["hits"] == 0
    assert not np.array_equal(frame[..., 1], character[..., 1])
    core.close()


def test_unwritable_cache_path_is_a_clear_error_at_get_core(tiny_engine_dir, tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where a folder should be")
    with pytest.raises(RuntimeError, match="not-a-folder"):
        make_core(
            tiny_engine_dir, use_cacher=True, cacher_on_database=True, cacher_db_path=str(blocker / "f.db")
        )
