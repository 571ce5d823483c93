"""One parser for output specs: the sink factory, the node's port list and doctor read the same
typed spec, and reading it builds nothing."""

from __future__ import annotations

import pytest

from ezvtb_node.app.assembly import listeners
from ezvtb_node.app.config import NodeConfig
from ezvtb_node.doctor import run_checks
from ezvtb_node.outputs import parse_output
from ezvtb_node.outputs.spec import BrowserSpec, FilesSpec, NullSpec, SpoutSpec


@pytest.mark.parametrize(
    ("text", "spec"),
    [
        ("spout", SpoutSpec("ezvtb")),
        (" Spout:Avatar ", SpoutSpec("Avatar")),
        ("browser", BrowserSpec("127.0.0.1", 8765)),
        ("browser:0", BrowserSpec("127.0.0.1", 0)),
        ("browser:0.0.0.0:9000", BrowserSpec("0.0.0.0", 9000)),
        ("files:out/frames", FilesSpec("out/frames")),
        ("NULL", NullSpec()),
    ],
)
def test_each_form_parses_to_its_typed_spec(text, spec):
    assert parse_output(text) == spec


def test_only_a_file_name_ending_in_webp_makes_one_animation():
    assert parse_output("files:clip.WebP").animated_webp
    assert not parse_output("files:webp_frames").animated_webp


def test_a_bad_spec_names_itself_and_the_accepted_forms():
    expected = r"output 'browser:localhost:http': .*expected spout\[:NAME\], browser"
    with pytest.raises(ValueError, match=expected):
        parse_output("browser:localhost:http")


def test_the_node_reads_the_browser_port_from_the_spec():
    outputs = ["null", "browser:localhost:9123", "files:x"]
    config = NodeConfig.from_keys(vmc="off", control="off", output=outputs)
    assert [(use.label, use.host, use.port) for use in listeners(config)] == [
        ("browser source", "localhost", 9123)
    ]


def test_doctor_stops_at_an_output_it_cannot_read_naming_it():
    with pytest.raises(ValueError, match="unknown output kind 'webcam'"):
        run_checks(NodeConfig.from_keys(output=["webcam"]))
