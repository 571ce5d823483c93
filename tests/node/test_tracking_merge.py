"""The render thread's view of several sources: the newest face frame, with the voice added."""

from ezvtb_node.app.render import TrackingSlot
from ezvtb_node.inputs import TrackingFrame


def frame(source, lost=False, at=0.0, **channels):
    return TrackingFrame(source=source, channels=channels, t=at, received_at=at, lost=lost)


def test_nothing_arrived_yet_means_no_frame():
    assert TrackingSlot().take() == (None, 0)


def test_the_newest_face_frame_wins_between_face_trackers():
    slot = TrackingSlot()
    slot.publish(frame("vmc", jawOpen=0.1))
    slot.publish(frame("ifacialmocap", jawOpen=0.7))
    merged, seq = slot.take()
    assert merged.source == "ifacialmocap" and merged.channels == {"jawOpen": 0.7} and seq == 2


def test_the_voice_adds_its_channels_to_a_tracked_face():
    slot = TrackingSlot()
    slot.publish(frame("vmc", at=1.0, jawOpen=0.2, **{"head.yaw": 5.0}))
    slot.publish(frame("voice", at=2.0, **{"voice.level": 0.8, "voice.a": 1.0}))
    merged, _ = slot.take()
    assert merged.source == "vmc" and not merged.lost
    assert merged.channels == {"jawOpen": 0.2, "head.yaw": 5.0, "voice.level": 0.8, "voice.a": 1.0}
    assert merged.received_at == 2.0  # latency is counted from the newest packet that went in


def test_the_voice_alone_drives_when_no_face_is_tracked():
    slot = TrackingSlot()
    slot.publish(frame("voice", **{"voice.level": 0.5}))
    assert slot.take()[0].source == "voice"
    slot.publish(frame("vmc", jawOpen=0.3))
    slot.publish(frame("vmc", lost=True, jawOpen=0.3))  # the face tracker stopped
    merged, _ = slot.take()
    assert merged.source == "voice" and merged.channels == {"voice.level": 0.5}


def test_a_lost_voice_is_left_out_and_everything_lost_gives_the_newest_lost_frame():
    slot = TrackingSlot()
    slot.publish(frame("vmc", jawOpen=0.3))
    slot.publish(frame("voice", lost=True, **{"voice.level": 0.9}))
    assert slot.take()[0].channels == {"jawOpen": 0.3}
    slot.publish(frame("vmc", lost=True, jawOpen=0.3))
    merged, _ = slot.take()
    assert merged.lost and merged.source == "vmc"
