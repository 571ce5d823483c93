"""The browser source end to end: our server, the real page, a real headless Chromium."""

import asyncio
import base64
import contextlib
import io
import json
import urllib.error
import urllib.request

import aiohttp
import numpy as np
import pytest
from headless_chromium import HeadlessChromium, chromium_available
from PIL import Image
from waiting import bgra_to_rgba, make_frame, wait_until

from ezvtb_node.outputs import browser as browser_module
from ezvtb_node.outputs.browser import FRAMES_IN_FLIGHT, BrowserSink, encode_frame

pytestmark = pytest.mark.skipif(not chromium_available(), reason="needs Debian's chromium package")

WIDTH, HEIGHT = 96, 64  # not square, so a swapped width and height would show


@pytest.fixture(scope="module")
def chromium():
    with HeadlessChromium() as browser:
        yield browser


@pytest.fixture
def sink():
    sink = BrowserSink(port=0)
    sink.open(WIDTH, HEIGHT)
    yield sink
    sink.close()


def show(chromium, sink, frame, session=None):
    """Send a frame and wait until the page (opened if needed) has painted it."""
    if session is None:
        session = chromium.open(sink.url)
        chromium.wait_for(session, "window.ezvtb && window.ezvtb.connected")
    before = chromium.evaluate(session, "window.ezvtb.painted")
    sink.send(frame)
    chromium.wait_for(session, f"window.ezvtb.painted > {before}")
    return session


def get(url, headers=None):
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


@pytest.mark.parametrize("fmt", ["raw", "png", "webp"])
def test_canvas_pixels_equal_the_frame_sent(chromium, fmt):
    # Alpha 0 or 255 only: a 2D canvas stores premultiplied colour, so those are the alphas whose
    # colour survives exactly (see the next test for the rest).
    frame = make_frame(HEIGHT, WIDTH, seed=11, alpha="binary")
    with BrowserSink(port=0, fmt=fmt) as sink:
        sink.open(WIDTH, HEIGHT)
        session = show(chromium, sink, frame)
        canvas = chromium.read_canvas(session)
    expected = bgra_to_rgba(frame).copy()
    expected[expected[..., 3] == 0] = 0  # fully transparent: no colour to see
    assert canvas.shape == (HEIGHT, WIDTH, 4)
    np.testing.assert_array_equal(canvas, expected)


def test_the_whole_page_is_transparent_around_the_frame_like_obs_composites_it(chromium, sink):
    # The page as a compositor sees it: viewport = frame size, no default white backdrop.
    frame = make_frame(HEIGHT, WIDTH, seed=13, alpha="binary")
    session = chromium.open(sink.url)
    metrics = {"width": WIDTH, "height": HEIGHT, "deviceScaleFactor": 1, "mobile": False}
    chromium.command("Emulation.setDeviceMetricsOverride", metrics, session)
    chromium.command(
        "Emulation.setDefaultBackgroundColorOverride", {"color": {"r": 0, "g": 0, "b": 0, "a": 0}}, session
    )
    chromium.wait_for(session, "window.ezvtb && window.ezvtb.connected")
    show(chromium, sink, frame, session)
    shot = chromium.command("Page.captureScreenshot", {"format": "png"}, session)["data"]
    with Image.open(io.BytesIO(base64.b64decode(shot))) as image:
        page = np.asarray(image.convert("RGBA"))
    expected = bgra_to_rgba(frame).copy()
    expected[expected[..., 3] == 0] = 0
    np.testing.assert_array_equal(page, expected)


def test_partial_alpha_is_exact_and_colour_within_the_premultiplication_bound(chromium, sink):
    frame = make_frame(HEIGHT, WIDTH, seed=12, alpha="opaque")
    frame[..., 3] = np.arange(WIDTH * HEIGHT).reshape(HEIGHT, WIDTH) % 255 + 1  # alpha 1..255
    canvas = chromium.read_canvas(show(chromium, sink, frame)).astype(int)
    expected = bgra_to_rgba(frame).astype(int)
    np.testing.assert_array_equal(canvas[..., 3], expected[..., 3])
    # Stored as round(c*a/255) and read back as round(p*255/a): off by at most 255/(2a) + 1/2.
    bound = 255 / (2 * expected[..., 3:4]) + 0.5
    assert (np.abs(canvas[..., :3] - expected[..., :3]) <= bound).all()
    opaque = expected[..., 3] == 255
    np.testing.assert_array_equal(canvas[opaque], expected[opaque])


def test_several_viewers_see_the_same_frame(chromium, sink):
    first = show(chromium, sink, make_frame(HEIGHT, WIDTH, 1))
    second = chromium.open(sink.url)
    chromium.wait_for(second, "window.ezvtb && window.ezvtb.painted >= 1")  # gets the current frame
    frame = make_frame(HEIGHT, WIDTH, 2, alpha="opaque")
    show(chromium, sink, frame, first)
    chromium.wait_for(
        second, f"window.ezvtb.lastPainted == {chromium.evaluate(first, 'window.ezvtb.lastPainted')}"
    )
    for session in (first, second):
        np.testing.assert_array_equal(chromium.read_canvas(session), bgra_to_rgba(frame))
    assert sink.stats()["viewers"] == 2


def test_page_reconnects_by_itself_when_the_node_restarts(chromium):
    first = BrowserSink(port=0)
    first.open(WIDTH, HEIGHT)
    session = show(chromium, first, make_frame(HEIGHT, WIDTH, 3))
    port = first.server.port
    first.close()
    chromium.wait_for(session, "!window.ezvtb.connected")
    frame = make_frame(HEIGHT, WIDTH, 4, alpha="opaque")
    with BrowserSink(port=port) as second:
        second.open(WIDTH, HEIGHT)
        chromium.wait_for(session, "window.ezvtb.connected && window.ezvtb.connects >= 2")
        show(chromium, second, frame, session)
        np.testing.assert_array_equal(chromium.read_canvas(session), bgra_to_rgba(frame))


def test_a_stalled_viewer_gets_only_the_frames_in_flight_and_holds_no_one_up(chromium, sink, monkeypatch):
    monkeypatch.setattr(browser_module, "_ACK_TIMEOUT_S", 60.0)
    page = show(chromium, sink, make_frame(HEIGHT, WIDTH, 5))
    last = make_frame(HEIGHT, WIDTH, 99, alpha="opaque")

    def drive_page():
        wait_until(lambda: sink.stats()["viewers"] == 2)
        for seed in range(20):
            show(chromium, sink, make_frame(HEIGHT, WIDTH, seed), page)
        show(chromium, sink, last, page)

    async def stalled_viewer() -> int:
        async with aiohttp.ClientSession() as client, client.ws_connect(sink.url + "ws") as ws:
            await asyncio.to_thread(drive_page)  # this client reads nothing and never acknowledges
            # What the server sent it: the frames in flight, then nothing more (it never acked).
            received = 0
            for _ in range(FRAMES_IN_FLIGHT):
                message = await ws.receive(timeout=60)
                assert message.type == aiohttp.WSMsgType.BINARY, message
                received += 1
            with contextlib.suppress(asyncio.TimeoutError):
                extra = await ws.receive(timeout=0.5)
                received += extra.type == aiohttp.WSMsgType.BINARY
            return received

    assert asyncio.run(stalled_viewer()) == FRAMES_IN_FLIGHT
    np.testing.assert_array_equal(chromium.read_canvas(page), bgra_to_rgba(last))
    assert sink.stats()["viewer_dropped"] >= 15


def test_frames_sent_before_anyone_watches_show_up_when_a_page_connects(chromium, sink):
    frame = make_frame(HEIGHT, WIDTH, 6, alpha="opaque")
    sink.send(make_frame(HEIGHT, WIDTH, 7))
    sink.send(frame)
    wait_until(lambda: sink.stats()["written"] + sink.stats()["dropped"] == 2)
    session = chromium.open(sink.url)
    chromium.wait_for(session, "window.ezvtb && window.ezvtb.painted >= 1")
    np.testing.assert_array_equal(chromium.read_canvas(session), bgra_to_rgba(frame))


def test_token_is_required_on_every_data_route_when_set(chromium):
    frame = make_frame(HEIGHT, WIDTH, 8, alpha="opaque")
    with BrowserSink(port=0, token="s3cret") as sink:
        sink.open(WIDTH, HEIGHT)
        base = sink.url.split("?")[0]
        for path in ("", "ws", "status"):
            status, body = get(base + path)
            assert status == 403 and b"token" in body
            assert get(base + path + "?token=wrong")[0] == 403
        assert get(base + "status?token=s3cret")[0] == 200
        session = show(chromium, sink, frame)  # sink.url carries the token; the page passes it on
        np.testing.assert_array_equal(chromium.read_canvas(session), bgra_to_rgba(frame))


def test_other_web_sites_cannot_read_the_stream(sink):
    status, body = get(sink.url + "status", {"Origin": "http://evil.example"})
    assert status == 403 and b"evil.example" in body
    assert get(sink.url + "status", {"Origin": sink.url.rstrip("/")})[0] == 200


def test_extra_json_routes_and_status_reach_the_debug_panel(chromium, sink):
    sink.add_json_route("/metrics", lambda: {"frames_rendered": 1234})
    sink.add_status("node", lambda: {"engine": "standin-engine"})
    status, body = get(sink.url + "metrics")
    assert status == 200 and json.loads(body) == {"frames_rendered": 1234}
    status, body = get(sink.url + "status")
    report = json.loads(body)
    assert report["node"] == {"engine": "standin-engine"}
    assert report["sink"]["kind"] == "browser"
    assert get(sink.url + "nothing")[0] == 404
    with pytest.raises(ValueError, match="free path"):
        sink.add_json_route("/ws", dict)
    session = chromium.open(sink.url + "?debug")
    panel_text = "(document.getElementById('status') || {}).textContent || ''"
    panel = chromium.wait_for(session, f"({panel_text}).includes('standin-engine') && ({panel_text})")
    assert "connected true" in panel


def test_encoded_messages_carry_size_sequence_and_format():
    frame = make_frame(HEIGHT, WIDTH, 9)
    raw = encode_frame(frame, 5, "raw")
    assert raw[:4] == b"EZVF" and int.from_bytes(raw[4:8], "little") == 5
    assert int.from_bytes(raw[8:10], "little") == WIDTH and int.from_bytes(raw[10:12], "little") == HEIGHT
    assert len(raw) == 16 + WIDTH * HEIGHT * 4
    assert encode_frame(frame, 5, "png")[12] == 1 and encode_frame(frame, 5, "png")[16:20] == b"\x89PNG"
    assert encode_frame(frame, 5, "webp")[12] == 2 and encode_frame(frame, 5, "webp")[16:20] == b"RIFF"


def test_a_taken_port_gives_a_clear_error(sink):
    with pytest.raises(RuntimeError, match=rf"cannot listen on 127.0.0.1:{sink.server.port}.*another port"):
        BrowserSink(port=sink.server.port).open(WIDTH, HEIGHT)


def raise_in_loop(sink, message: str, exception: BaseException) -> None:
    """What the Proactor loop does when OBS reloads the page on Windows: it reports the exception
    of a callback through the loop's exception handler (asyncio/proactor_events.py)."""
    loop = sink.server._loop
    loop.call_soon_threadsafe(loop.call_exception_handler, {"message": message, "exception": exception})
    asyncio.run_coroutine_threadsafe(asyncio.sleep(0), loop).result(60)  # runs after the handler


def test_the_windows_connection_reset_of_a_reloaded_browser_source_is_not_logged(sink, caplog):
    reset = ConnectionResetError(10054, "An existing connection was forcibly closed by the remote host")
    with caplog.at_level("ERROR", logger="asyncio"):
        raise_in_loop(
            sink, "Exception in callback _ProactorBasePipeTransport._call_connection_lost(None)", reset
        )
        assert caplog.records == []
        raise_in_loop(sink, "Exception in callback Something.else()", RuntimeError("a real fault"))
    assert [r.getMessage() for r in caplog.records] == ["Exception in callback Something.else()"]
