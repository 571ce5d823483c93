import threading

import numpy as np
import pytest
from cacher_helpers import character, frame_for, pose_for

from ezvtb_node.core.cacher import FrameCacher, image_digest

FRAME_BYTES = 512 * 512 * 4


@pytest.fixture
def ram_cacher():
    cacher = FrameCacher(on_database=False, quality=100, ram_size_gb=0.1, db_path=None)
    cacher.set_context("image-a", "engine-1")
    yield cacher
    cacher.close()


def test_miss_then_hit_returns_the_stored_frame(ram_cacher):
    pose = pose_for(1)
    assert ram_cacher.get(pose) is None
    ram_cacher.put(pose, frame_for(pose))
    ram_cacher.flush()
    got = ram_cacher.get(pose)
    assert np.array_equal(got, frame_for(pose))
    stats = ram_cacher.stats()
    assert (stats["hits"], stats["misses"], stats["hit_rate"]) == (1, 1, 0.5)
    assert stats["entries"] == 1 and stats["bytes"] == FRAME_BYTES


def test_put_copies_the_frame_because_the_core_reuses_its_arrays(ram_cacher):
    pose = pose_for(2)
    frame = frame_for(pose)
    ram_cacher.put(pose, frame)
    frame[:] = 0  # the core overwrites its output buffer in place on the next inference
    ram_cacher.flush()
    assert np.array_equal(ram_cacher.get(pose), frame_for(pose))


def test_another_image_or_engine_never_gets_these_frames(ram_cacher):
    pose = pose_for(3)
    ram_cacher.put(pose, frame_for(pose))
    ram_cacher.flush()
    ram_cacher.set_context("image-b", "engine-1")
    assert ram_cacher.get(pose) is None
    ram_cacher.set_context("image-a", "engine-2")
    assert ram_cacher.get(pose) is None
    ram_cacher.set_context("image-a", "engine-1")
    assert ram_cacher.get(pose) is not None


def test_a_nearby_pose_in_the_same_bucket_hits(ram_cacher):
    pose = pose_for(4)
    ram_cacher.put(pose, frame_for(pose))
    ram_cacher.flush()
    nudged = pose.copy()
    nudged[0, 39] += 0.001
    nudged[0, 0] += 0.005
    assert np.array_equal(ram_cacher.get(nudged), frame_for(pose))


def test_ram_budget_is_enforced_through_the_cacher():
    budget_frames = 3
    with FrameCacher(False, 100, budget_frames * FRAME_BYTES / 1024**3, None) as cacher:
        cacher.set_context("img", "eng")
        for i in range(10):
            cacher.put(pose_for(i), frame_for(pose_for(i)))
        cacher.flush()
        stats = cacher.stats()
        assert stats["entries"] == budget_frames and stats["bytes"] <= budget_frames * FRAME_BYTES
        assert stats["evictions"] == 7
        assert cacher.get(pose_for(9)) is not None and cacher.get(pose_for(0)) is None


def test_put_never_blocks_a_full_queue_drops_and_counts(monkeypatch):
    release = threading.Event()
    writer_busy = threading.Event()
    cacher = FrameCacher(False, 85, 0.1, None, queue_frames=2)
    cacher.set_context("img", "eng")
    original = cacher.codec.encode

    def slow_encode(frame):
        writer_busy.set()
        release.wait(60)  # a writer stuck on a slow disk
        return original(frame)

    monkeypatch.setattr(cacher.codec, "encode", slow_encode)
    try:
        frame = frame_for(pose_for(0))
        cacher.put(pose_for(0), frame)
        assert writer_busy.wait(60)
        # The writer stays stuck until `release`: a put that waited for room could never return
        # before it, so returning at all (however slowly the machine runs) shows none blocks.
        putter = threading.Thread(target=lambda: [cacher.put(pose_for(i), frame) for i in range(1, 8)])
        putter.start()
        putter.join(60)
        assert not putter.is_alive(), "put() blocked on a full queue"
        assert not release.is_set()
        assert cacher.stats()["dropped_writes"] == 5  # two fit the queue, five dropped
    finally:
        release.set()
        cacher.close()
    assert cacher.stats()["entries"] == 3  # the first frame and the two queued ones were stored


def test_encoding_happens_on_the_writer_thread(monkeypatch):
    threads = []
    with FrameCacher(False, 85, 0.1, None) as cacher:
        cacher.set_context("img", "eng")
        original = cacher.codec.encode

        def spy(frame):
            threads.append(threading.current_thread().name)
            return original(frame)

        monkeypatch.setattr(cacher.codec, "encode", spy)
        cacher.put(pose_for(0), character())
        cacher.flush()
    assert threads == ["frame-cacher-writer"]


def test_get_before_set_context_and_after_close_are_clear_errors():
    cacher = FrameCacher(False, 85, 0.1, None)
    with pytest.raises(RuntimeError, match="set_context"):
        cacher.get(pose_for(0))
    cacher.set_context(image_digest(character()), "eng")
    cacher.close()
    cacher.close()  # twice is fine
    with pytest.raises(RuntimeError, match="closed"):
        cacher.put(pose_for(0), frame_for(pose_for(0)))


def test_bad_options_are_refused():
    with pytest.raises(ValueError, match="cacher_ram_size"):
        FrameCacher(False, 85, -1, None)
    with pytest.raises(ValueError, match="1 to 100"):
        FrameCacher(False, 0, 1, None)
    with pytest.raises(ValueError, match="BGRA"), FrameCacher(False, 85, 1, None) as cacher:
        cacher.set_context("img", "eng")
        cacher.put(pose_for(0), np.zeros((512, 512, 3), np.uint8))
