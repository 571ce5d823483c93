"""Progress bars draw on a terminal and stay quiet in logs and pipes."""

import io
import os
import sys
import threading

import pytest

from ezvtb_node.app.metrics import StatusPrinter
from ezvtb_node.progress import has_console, progress_bar


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def run_bar(monkeypatch, stream, enabled=True):
    monkeypatch.setattr(sys, "stderr", stream)
    bar = progress_bar("building", 3, enabled=enabled)
    for _ in range(3):
        bar.update()
    bar.close()
    return stream.getvalue()


def test_a_bar_is_drawn_on_a_terminal(monkeypatch):
    assert "building" in run_bar(monkeypatch, Terminal()) and "3/3" in run_bar(monkeypatch, Terminal())


def test_a_bar_writes_nothing_when_stderr_is_not_a_terminal(monkeypatch):
    assert run_bar(monkeypatch, io.StringIO()) == ""


def test_a_bar_turned_off_writes_nothing_even_on_a_terminal(monkeypatch):
    assert run_bar(monkeypatch, Terminal(), enabled=False) == ""


class WindowsNul(io.TextIOWrapper):
    """stderr redirected with `2>NUL` on Windows: isatty() is true (NUL is a character device;
    the msvcrt isatty asks only that) yet os.get_terminal_size raises on its descriptor. A
    descriptor of /dev/null behaves the same for get_terminal_size here."""

    def isatty(self) -> bool:
        return True


@pytest.fixture
def nul():
    with open(os.devnull, "wb") as raw, WindowsNul(raw, encoding="utf-8") as stream:
        yield stream


def test_without_a_console_a_bar_is_silent_instead_of_crashing(monkeypatch):
    monkeypatch.setattr(sys, "stderr", None)  # pythonw, a script OBS starts
    bar = progress_bar("building", 3)
    for _ in range(3):
        bar.update()
    bar.close()
    assert bar.disable


def test_stderr_sent_to_windows_nul_is_not_a_console_for_bars(monkeypatch, nul):
    assert not has_console(nul)
    monkeypatch.setattr(sys, "stderr", nul)
    assert progress_bar("building", 3).disable


@pytest.mark.parametrize("stream", ["none", "nul"])
def test_the_status_line_survives_no_console_and_windows_nul(monkeypatch, nul, stream):
    monkeypatch.setattr(sys, "stderr", None if stream == "none" else nul)
    printer = StatusPrinter(lambda: "x" * 500, threading.Event())
    printer.show("render 5.0 fps" * 40)
    printer.finish()
    assert not printer._interactive
