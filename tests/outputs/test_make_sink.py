import pytest

from ezvtb_node.outputs import make_sink
from ezvtb_node.outputs.browser import BrowserSink
from ezvtb_node.outputs.files import PngSequenceSink, WebpAnimationSink
from ezvtb_node.outputs.null import NullSink


@pytest.mark.parametrize(
    ("spec", "kind", "url"),
    [
        ("null", NullSink, None),
        ("browser", BrowserSink, "http://127.0.0.1:8765/"),
        ("browser:9000", BrowserSink, "http://127.0.0.1:9000/"),
        ("BROWSER:localhost:9001", BrowserSink, "http://localhost:9001/"),
        ("browser:[::1]:9002", BrowserSink, "http://[::1]:9002/"),
        ("browser::9003", BrowserSink, "http://127.0.0.1:9003/"),
        ("browser:localhost", BrowserSink, "http://localhost:8765/"),
        ("files:some/dir", PngSequenceSink, None),
        ("files:clip.WEBP", WebpAnimationSink, None),
    ],
)
def test_specs_build_the_right_output(spec, kind, url):
    sink = make_sink(spec)
    assert type(sink) is kind
    if url:
        assert sink.url == url


def test_binding_beyond_loopback_requires_a_token():
    sink = make_sink("browser:0.0.0.0:9000")
    assert sink.server.token and sink.url.endswith(f"/?token={sink.server.token}")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("webcam", "unknown output kind 'webcam'"),
        ("browser:127.0.0.1:http", "with a port 0-65535, got '127.0.0.1:http'"),
        ("browser:127.0.0.1:70000", "with a port 0-65535, got '127.0.0.1:70000'"),
        ("files:", "needs a directory or a .webp file"),
        ("null:x", "null takes no argument"),
    ],
)
def test_bad_specs_name_what_was_expected(spec, message):
    with pytest.raises(ValueError, match="expected spout") as error:
        make_sink(spec)
    assert message in str(error.value)


def test_premultiplied_is_only_offered_where_it_exists():
    with pytest.raises(ValueError, match="premultiplied alpha is a Spout option"):
        make_sink("browser", premultiplied=True)
