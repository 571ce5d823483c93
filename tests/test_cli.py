import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ezvtb_node import __version__
from ezvtb_node.inputs.voice.audio import write_wav
from ezvtb_node.inputs.voice.profile import VOWELS
from ezvtb_node.inputs.voice.synth import synthesize_vowel


def test_console_script_reports_version():
    out = subprocess.run(
        [sys.executable, "-m", "ezvtb_node.cli", "--version"], capture_output=True, text=True, check=True
    )
    assert __version__ in out.stdout


# Windows hands a redirected stdout (`> file`, `| clip`) the ANSI code page with strict errors (sys
# docs, sys.stdout); PYTHONIOENCODING plays those code pages here: cp1252 (Western) lacks kana and
# ✓, cp932 (Japanese) lacks the en dash.
WINDOWS_CODE_PAGES = ["cp1252", "cp932"]


def run_redirected(args: list[str], encoding: str, out_file: Path) -> subprocess.CompletedProcess:
    with out_file.open("wb") as out:
        return subprocess.run(
            [sys.executable, "-m", "ezvtb_node.cli", *args],
            stdout=out,
            stderr=subprocess.PIPE,
            env={**os.environ, "PYTHONIOENCODING": encoding, "PYTHONUTF8": "0"},
            timeout=600,
        )


@pytest.mark.parametrize("encoding", WINDOWS_CODE_PAGES)
def test_help_redirected_to_a_file_in_a_windows_code_page_is_written_whole(tmp_path, encoding):
    out = tmp_path / "help.txt"
    result = run_redirected(["--help"], encoding, out)
    assert result.returncode == 0, result.stderr.decode(encoding, "replace")
    text = out.read_bytes().decode(encoding)
    assert "usage: ezvtb-node" in text and "doctor" in text


@pytest.mark.parametrize("encoding", WINDOWS_CODE_PAGES)
def test_doctor_redirected_to_a_file_in_a_windows_code_page_writes_its_report(tmp_path, encoding):
    out = tmp_path / "doctor.txt"
    result = run_redirected(["doctor"], encoding, out)
    assert b"UnicodeEncodeError" not in result.stderr
    text = out.read_bytes().decode(encoding)
    assert "\\u2713" in text or "\\u2717" in text, text  # ✓ / ✗ written as escapes, not a crash


@pytest.mark.parametrize("encoding", WINDOWS_CODE_PAGES)
def test_voice_calibrate_redirected_in_a_windows_code_page_reports_every_vowel(tmp_path, encoding):
    rate = 16_000
    pause = np.zeros(int(0.4 * rate))
    take = np.concatenate([pause] + [np.concatenate([0.5 * synthesize_vowel(v, 140, 1.0, rate, 0.6), pause])
                                     for v in VOWELS])  # fmt: skip
    write_wav(tmp_path / "take.wav", take, rate)
    out = tmp_path / "calibrate.txt"
    args = ["voice", "calibrate", str(tmp_path / "take.wav"), "--out", str(tmp_path / "me.json")]
    result = run_redirected(args, encoding, out)
    assert result.returncode == 0, result.stderr.decode(encoding, "replace")
    text = out.read_bytes().decode(encoding)
    assert all(f"  {vowel} (" in text for vowel in VOWELS), text
    assert (tmp_path / "me.json").is_file()
