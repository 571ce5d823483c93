import warnings

import numpy as np
import pytest

from ezvtb_node.core import get_core
from ezvtb_node.core.stage_cache import StageCache
from ezvtb_node.pose import POSE_INDEX


def test_lru_is_bounded_by_bytes_and_evicts_oldest():
    cache = StageCache(max_bytes=3 * 400)
    arrays = {k: [np.zeros(100, np.float32)] for k in "abcd"}  # 400 bytes each
    for key in "abc":
        cache.put(key, arrays[key])
    assert cache.get("a") is not None  # a is now the most recently used
    cache.put("d", arrays["d"])
    assert cache.bytes <= cache.max_bytes
    assert cache.get("b") is None, "b was least recently used and must be evicted"
    assert cache.get("a") is not None and cache.get("d") is not None
    assert cache.evictions == 1


def test_entry_larger_than_the_cache_is_not_stored():
    cache = StageCache(max_bytes=100)
    cache.put("big", [np.zeros(1000, np.uint8)])
    assert len(cache) == 0 and cache.bytes == 0


def test_negative_size_rejected():
    with pytest.raises(ValueError):
        StageCache(-1)


@pytest.fixture
def cached_core(tiny_engine_dir):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return get_core(
            model_dir=str(tiny_engine_dir), model_cache=True, use_interpolation=False, use_cacher=False
        )


def test_rotation_only_changes_reuse_eyebrow_and_face_results(cached_core, character):
    cached_core.setImage(character)
    pose = np.zeros((1, 45), np.float32)
    pose[0, POSE_INDEX["eye_wink_left"]] = 0.5
    for i in range(5):
        pose[0, POSE_INDEX["head_x"]] = i / 10
        cached_core.inference(pose)
    stats = cached_core.stats()["model_cache"]
    assert stats["misses"] == 2  # eyebrow and face, first frame only
    assert stats["hits"] == 8
    timings = cached_core.stats()["last_stage_ms"]
    assert timings["eyebrow"] == 0 and timings["face"] == 0 and timings["body"] > 0


def test_a_new_image_invalidates_cached_results(cached_core, character):
    pose = np.zeros((1, 45), np.float32)
    cached_core.setImage(character)
    first = cached_core.inference(pose)[0].copy()
    other = character.copy()
    other[..., 0] = 255 - other[..., 0]
    cached_core.setImage(other)
    second = cached_core.inference(pose)[0]
    assert not np.array_equal(first, second)
    assert cached_core.stats()["model_cache"]["entries"] == 2  # only the new image's results


def test_cache_off_gives_identical_frames(tiny_engine_dir, character, cached_core):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        plain = get_core(model_dir=str(tiny_engine_dir), model_cache=False, use_interpolation=False)
    plain.setImage(character)
    cached_core.setImage(character)
    pose = np.zeros((1, 45), np.float32)
    for i in range(3):
        pose[0, 40] = i / 5
        np.testing.assert_array_equal(plain.inference(pose)[0], cached_core.inference(pose)[0])
    assert plain.stats()["model_cache"] is None
