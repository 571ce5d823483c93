"""NodeMetrics: the render loop reports through methods; snapshot and the properties read them."""

from ezvtb_node.app.metrics import NodeMetrics


def test_render_failures_are_counted_and_reported():
    metrics = NodeMetrics()
    assert [metrics.render_failed() for _ in range(3)] == [1, 2, 3]
    assert metrics.snapshot()["render"]["errors"] == 3


def test_tracking_state_and_source_reach_the_snapshot():
    metrics = NodeMetrics()
    assert metrics.tracking_state == "waiting"
    metrics.tracking("live", "vmc")
    assert metrics.tracking_state == "live"
    assert metrics.snapshot()["tracking"] | {"input_fps": None} == {
        "state": "live",
        "source": "vmc",
        "input_fps": None,
    }


def test_rendered_frames_are_counted():
    metrics = NodeMetrics()
    metrics.frame_rendered(0.01, at=1.0)
    metrics.frame_rendered(0.02, at=2.0)
    assert metrics.rendered == 2 == metrics.snapshot()["render"]["frames"]
