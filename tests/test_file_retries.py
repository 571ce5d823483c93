"""Renames and deletes while another program holds the file, as on Windows: an antivirus scan,
OneDrive or a viewer opening a fresh file makes MoveFileEx/DeleteFile fail with WinError 32 (sharing
violation) or 5 (access denied) for a moment. CPython raises PermissionError with ``winerror`` set;
that is simulated here on the real operations."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ezvtb_node import paths
from ezvtb_node.core.models.store import install_engine_set
from ezvtb_node.outputs.files import write_webp_animation
from ezvtb_node.paths import FileHeldError, retry_while_held


def held_by_another_program(winerror: int = 32) -> PermissionError:
    error = PermissionError(
        13, "The process cannot access the file because it is being used by another process"
    )
    error.winerror = winerror
    return error


class HeldFor:
    """Wraps a real operation so that its first ``times`` calls fail as Windows fails them."""

    def __init__(self, real, times: int, winerror: int = 32) -> None:
        self.real, self.left, self.winerror, self.calls = real, times, winerror, 0

    def __call__(self, *args, **kwargs):
        self.calls += 1
        if self.left > 0:
            self.left -= 1
            raise held_by_another_program(self.winerror)
        return self.real(*args, **kwargs)


@pytest.fixture
def no_waiting(monkeypatch):
    waits = []
    monkeypatch.setattr(paths.time, "sleep", waits.append)
    return waits


def test_demo_webp_is_written_once_the_scanner_lets_go_of_it(tmp_path, monkeypatch, no_waiting):
    replace = HeldFor(os.replace, times=3)
    monkeypatch.setattr(os, "replace", replace)
    frames = [np.full((8, 8, 4), value, np.uint8) for value in (0, 255)]
    write_webp_animation(frames, tmp_path / "demo.webp", fps=2, quality=100)
    assert replace.calls == 4 and len(no_waiting) == 3
    with Image.open(tmp_path / "demo.webp") as animation:
        assert animation.n_frames == 2


@pytest.mark.parametrize("winerror", [5, 32])
def test_an_engine_set_replaces_the_old_one_while_onedrive_holds_it_briefly(
    tmp_path, monkeypatch, no_waiting, winerror
):
    target, staging = tmp_path / "set", tmp_path / "staging"
    target.mkdir()
    (target / "old.onnx").write_text("old")
    staging.mkdir()
    (staging / "new.onnx").write_text("new")
    # The old set is moved aside (a folder with a held file inside cannot be renamed), then deleted.
    held_rename = HeldFor(Path.rename, times=2, winerror=winerror)
    monkeypatch.setattr(Path, "rename", lambda path, destination: held_rename(path, destination))
    monkeypatch.setattr(shutil, "rmtree", HeldFor(shutil.rmtree, times=2, winerror=winerror))
    install_engine_set(staging, target, {"format": 3})
    assert sorted(p.name for p in target.iterdir()) == ["manifest.json", "new.onnx"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["set"], "the old set is gone, nothing beside it"


def test_a_file_held_through_every_retry_is_one_clear_line_naming_it(tmp_path, no_waiting):
    def always_held():
        raise held_by_another_program()

    with pytest.raises(FileHeldError) as caught:
        retry_while_held(always_held, tmp_path / "demo.webp")
    message = str(caught.value)
    assert str(tmp_path / "demo.webp") in message and "WinError 32" in message and "\n" not in message
    assert sum(no_waiting) >= 2.0, "gave up before the scanner could let go"


def test_other_errors_are_raised_at_once_without_retrying(tmp_path, no_waiting):
    with pytest.raises(FileNotFoundError):
        retry_while_held(lambda: os.replace(tmp_path / "missing", tmp_path / "x"), tmp_path / "x")
    with pytest.raises(PermissionError):  # a POSIX permission error has no winerror: not a held file
        retry_while_held(lambda: (_ for _ in ()).throw(PermissionError(13, "denied")), tmp_path / "x")
    assert no_waiting == []
