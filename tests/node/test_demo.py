from ezvtb_node.app.demo import demo_trace_path, sample_trace
from ezvtb_node.inputs import read_trace


def test_bundled_trace_is_a_minute_of_arkit_tracking():
    frames = list(read_trace(demo_trace_path()))
    assert 59 < frames[-1].t <= 60
    assert {"jawOpen", "eyeBlinkLeft", "head.yaw"} <= set(frames[0].channels)
    # Expressive: the performer blinks, talks and turns the head.
    assert max(f.channels["eyeBlinkLeft"] for f in frames) > 0.9
    assert max(f.channels["jawOpen"] for f in frames) > 0.5
    assert max(abs(f.channels["head.yaw"]) for f in frames) > 10


def test_sampling_takes_the_last_frame_at_or_before_each_tick():
    sampled = list(sample_trace(demo_trace_path(), seconds=2.0, fps=4))
    assert len(sampled) == 8
    assert [round(f.t, 3) for f in sampled] == [k / 4 for k in range(8)]
