"""Progress bars draw on a terminal and stay quiet in logs and pipes."""

import io
import sys

from ezvtb_node.progress import progress_bar


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
