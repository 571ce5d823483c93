"""`run` checks everything it can before any model is built or loaded: each bad setting is named
with its fix, and the core is never asked for."""

import os
import socket
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from ezvtb_node.app.assembly import NodeError, preflight
from ezvtb_node.app.config import NodeConfig
from ezvtb_node.app.node import Node


def settings(tmp_path, **overrides):
    values = {"vmc": "off", "output": ["null"], "control": "off", "status": False, **overrides}
    return NodeConfig.from_keys(**values)


def never_built(options):
    raise AssertionError("the core must not be built when a setting is wrong")


@pytest.fixture
def rgb_png(tmp_path):
    path = tmp_path / "opaque.png"
    Image.fromarray(np.zeros((512, 512, 3), np.uint8), "RGB").save(path)
    return path


@pytest.fixture
def small_png(tmp_path):
    path = tmp_path / "small.png"
    Image.fromarray(np.zeros((256, 256, 4), np.uint8), "RGBA").save(path)
    return path


def test_a_missing_image_is_named_before_the_core_is_built(tmp_path):
    node = Node(settings(tmp_path, image=str(tmp_path / "missing.png")), core_factory=never_built)
    with pytest.raises(NodeError, match=r"character image .*missing\.png.*--image"):
        node.start()


def test_an_image_without_alpha_or_of_the_wrong_size_is_named(tmp_path, rgb_png, small_png):
    with pytest.raises(NodeError, match=r"opaque\.png: .*needs an alpha channel.*got mode RGB"):
        preflight(settings(tmp_path, image=str(rgb_png)))
    with pytest.raises(NodeError, match=r"small\.png: the character image must be 512x512, got 256x256"):
        preflight(settings(tmp_path, image=str(small_png)))


def test_a_taken_vmc_port_is_named_with_its_holder_and_the_way_out(tmp_path):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as squatter:
        squatter.bind(("127.0.0.1", 0))
        port = squatter.getsockname()[1]
        node = Node(settings(tmp_path, vmc=f"127.0.0.1:{port}"), core_factory=never_built)
        with pytest.raises(NodeError, match=rf"VMC: 127\.0\.0\.1:{port} is in use.*--vmc"):
            node.start()


def test_a_broken_mapping_file_is_named(tmp_path):
    broken = tmp_path / "broken.toml"
    broken.write_text("[mapping]\nformat = 1\n[pose]\nhead_x = { from = 'head.yaw', scale = 'big' }\n")
    with pytest.raises(NodeError, match=r"mapping .*broken\.toml"):
        preflight(settings(tmp_path, mapping_ifacialmocap=str(broken)))


def test_an_unknown_output_and_a_missing_replay_are_named(tmp_path):
    with pytest.raises(NodeError, match=r"output hologram: .*unknown output kind"):
        preflight(settings(tmp_path, output=["hologram"]))
    with pytest.raises(NodeError, match=r"replay: file not found: .*nothing\.jsonl"):
        preflight(settings(tmp_path, replay=str(tmp_path / "nothing.jsonl")))


def test_a_bad_core_setting_is_named_with_what_it_allows(tmp_path):
    with pytest.raises(NodeError, match="settings: sr_scale must be one of 2, 4, got 3"):
        preflight(settings(tmp_path, sr_scale=3))


@pytest.mark.parametrize(
    "command", [["run", "--control", "off"], ["demo", "--serve", "null", "--no-interpolation"]]
)
def test_the_command_line_reports_a_bad_image_and_builds_nothing(tmp_path, command):
    engines = tmp_path / "engines"
    engines.mkdir()
    result = subprocess.run(
        [sys.executable, "-m", "ezvtb_node.cli", *command, "--image", str(tmp_path / "missing.png")],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "EZVTB_ENGINES_DIR": str(engines)},
    )
    assert result.returncode == 1
    assert "missing.png" in result.stderr and "Traceback" not in result.stderr
    assert list(engines.iterdir()) == []  # no engine was built or even started
