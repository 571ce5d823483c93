"""Text files as Windows tools write them: Windows PowerShell 5.1's `>` (UTF-16LE with a BOM, the
default of its Out-File), Notepad's "UTF-8 with BOM", a file saved in an ANSI code page. Each loader
users feed (node.toml, mapping files, voice profiles, traces) reads the first two and refuses the
last naming the file and the fix."""

from __future__ import annotations

import codecs
import gzip
from pathlib import Path

import numpy as np
import pytest

from ezvtb_node.app.config import load_config_file
from ezvtb_node.core.cacher.warm import read_pose_file
from ezvtb_node.inputs.tracking import read_trace
from ezvtb_node.inputs.voice.profile import load_profile, save_profile
from ezvtb_node.inputs.voice.synth import default_profile
from ezvtb_node.mapping.mapping import load_mapping
from ezvtb_node.mapping.schema import MappingError
from ezvtb_node.pose import POSE_SIZE
from ezvtb_node.textfiles import TextFileError, read_text_file

ROOT = Path(__file__).resolve().parents[1]
TOML = "[output]\nfps = 30\n# ünïcödé comment: 表情\n"
TRACE = '{"t":0.0,"source":"vmc","channels":{"eyeBlinkLeft":0.5}}\n{"t":0.1,"source":"vmc","channels":{}}\n'


def powershell_51(text: str) -> bytes:
    """What `... > file` writes in Windows PowerShell 5.1: UTF-16LE behind a byte-order mark."""
    return codecs.BOM_UTF16_LE + text.encode("utf-16-le")


def notepad_utf8_bom(text: str) -> bytes:
    return codecs.BOM_UTF8 + text.encode("utf-8")


WINDOWS_WRITERS = [
    pytest.param(powershell_51, id="PowerShell 5.1 UTF-16LE"),
    pytest.param(lambda text: codecs.BOM_UTF16_BE + text.encode("utf-16-be"), id="UTF-16BE"),
    pytest.param(notepad_utf8_bom, id="Notepad UTF-8 with BOM"),
    pytest.param(lambda text: text.encode("utf-8"), id="plain UTF-8"),
]


@pytest.mark.parametrize("encode", WINDOWS_WRITERS)
def test_node_toml_written_by_windows_tools_loads_like_utf8(tmp_path, encode):
    path = tmp_path / "node.toml"
    path.write_bytes(encode(TOML))
    assert load_config_file(path) == {"fps": 30}


@pytest.mark.parametrize("encode", WINDOWS_WRITERS)
def test_a_bundled_mapping_resaved_by_windows_tools_loads_the_same(tmp_path, encode):
    original = ROOT / "mappings" / "vmc_vrm.toml"
    path = tmp_path / "mine.toml"
    path.write_bytes(encode(original.read_text(encoding="utf-8")))
    mine, bundled = load_mapping(path), load_mapping(original)
    assert (mine.description, mine.channels) == (bundled.description, bundled.channels)
    frame = {name: 0.25 + 0.5 * (i % 2) for i, name in enumerate(bundled.channels)}
    assert np.array_equal(mine.evaluate(frame), bundled.evaluate(frame))


@pytest.mark.parametrize("encode", WINDOWS_WRITERS)
def test_a_voice_profile_resaved_by_windows_tools_loads_the_same(tmp_path, encode):
    saved = tmp_path / "saved.json"
    save_profile(default_profile(), saved)
    resaved = tmp_path / "resaved.json"
    resaved.write_bytes(encode(saved.read_text(encoding="utf-8")))
    assert load_profile(resaved).to_json() == load_profile(saved).to_json()


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
@pytest.mark.parametrize("encode", WINDOWS_WRITERS)
def test_a_trace_written_by_windows_tools_replays_every_frame(tmp_path, encode, gz):
    path = tmp_path / ("trace.jsonl.gz" if gz else "trace.jsonl")
    data = encode(TRACE)
    path.write_bytes(gzip.compress(data) if gz else data)
    frames = list(read_trace(path))
    assert [f.channels for f in frames] == [{"eyeBlinkLeft": 0.5}, {}]


def test_a_pose_file_written_by_powershell_reads_its_poses(tmp_path):
    path = tmp_path / "poses.jsonl"
    path.write_bytes(powershell_51(f"{[0.5] * POSE_SIZE}\n"))
    (pose,) = read_pose_file(path)
    assert np.allclose(pose, 0.5)


def test_a_cp1252_node_toml_is_refused_naming_the_file_the_byte_and_the_fix(tmp_path):
    path = tmp_path / "node.toml"
    path.write_bytes(TOML.encode("cp1252", errors="replace"))
    with pytest.raises(TextFileError) as caught:
        load_config_file(path)
    message = str(caught.value)
    assert str(path) in message and "byte 0xfc" in message and "save it as UTF-8" in message


def test_utf16_without_a_byte_order_mark_is_refused_as_utf16_not_read_as_text_with_zeros(tmp_path):
    path = tmp_path / "node.toml"
    path.write_bytes(TOML.encode("utf-16-le"))
    with pytest.raises(TextFileError, match="UTF-16 text without a byte-order mark"):
        read_text_file(path)


def test_a_mapping_in_a_code_page_is_a_mapping_error_naming_the_file(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_bytes("# caf\xe9\n".encode("latin-1") + (ROOT / "mappings" / "vmc_vrm.toml").read_bytes())
    with pytest.raises(MappingError) as caught:
        load_mapping(path)
    assert str(path) in str(caught.value) and "expected UTF-8 text" in str(caught.value)


def test_a_damaged_line_deep_in_a_trace_is_refused_naming_the_file(tmp_path):
    path = tmp_path / "trace.jsonl"
    path.write_bytes(TRACE.encode() * 2000 + b'{"t":9,"source":"vmc","channels":{"\xff":1}}\n')
    with pytest.raises(TextFileError, match=f"{path.name}: expected UTF-8 text, got byte 0xff"):
        list(read_trace(path))
