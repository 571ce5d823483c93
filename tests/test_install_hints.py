"""Fix hints that work when pasted into the user's shell. cmd.exe takes single quotes literally (so
`pip install 'ezvtb-node[spout]'` fails there), a bare `pip` may be another Python's, and ezvtb-node
is not on PyPI: the hints name this interpreter's pip, double-quote, and install extras from the
checkout. Checked by running the hint's words as the shells would split them."""

from __future__ import annotations

import shlex
import subprocess
import sys

from ezvtb_node import install_hints
from ezvtb_node.install_hints import CHECKOUT, install_extra, pip_install, python_command


def cmd_exe_words(command: str) -> list[str]:
    """How cmd.exe hands a command line to a program (the MSVC runtime's argv rules): double quotes
    group and vanish, single quotes are ordinary characters."""
    words, word, quoted, started = [], "", False, False
    for char in command:
        if char == '"':
            quoted, started = not quoted, True
        elif char == " " and not quoted:
            if started:
                words.append(word)
            word, started = "", False
        else:
            word, started = word + char, True
    return [*words, word] if started else words


def test_inside_the_checkout_on_windows_the_hint_is_the_venvs_python_with_double_quotes(monkeypatch):
    monkeypatch.chdir(CHECKOUT)
    venv_python = str(CHECKOUT / ".venv" / "Scripts" / "python.exe")
    monkeypatch.setattr(sys, "executable", venv_python)
    assert python_command("win32", venv_python) == ".venv\\Scripts\\python"
    hint = install_extra("spout", system="win32")
    assert hint == '.venv\\Scripts\\python -m pip install -e ".[spout]"'
    assert cmd_exe_words(hint) == [".venv\\Scripts\\python", "-m", "pip", "install", "-e", ".[spout]"]
    assert "'" not in hint


def test_outside_the_checkout_the_hint_names_the_full_interpreter_and_the_checkout(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    python = "C:\\Program Files\\Python313\\python.exe"
    monkeypatch.setattr(sys, "executable", python)
    hint = install_extra("spout", system="win32")
    assert cmd_exe_words(hint) == [python, "-m", "pip", "install", "-e", f"{CHECKOUT}[spout]"]


def test_requirements_with_shell_characters_are_quoted_for_every_shell(monkeypatch):
    hint = pip_install("PyTurboJPEG>=1.8,<2")
    assert cmd_exe_words(hint)[-1] == "PyTurboJPEG>=1.8,<2"
    assert shlex.split(hint)[-1] == "PyTurboJPEG>=1.8,<2"


def test_the_posix_hint_is_one_this_python_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    words = shlex.split(pip_install("--dry-run", "--no-index", "--no-deps", "numpy"))
    assert words[0] == sys.executable
    result = subprocess.run(words, capture_output=True, text=True, timeout=300)
    assert "No module named pip" not in result.stderr


def test_without_a_checkout_an_extra_is_its_own_requirements(monkeypatch):
    monkeypatch.setattr(install_hints, "is_source_checkout", lambda: False)
    monkeypatch.setattr(install_hints.metadata, "requires", lambda name: ['SpoutGL>=0.1.1; extra == "spout"'])
    assert install_extra("spout").endswith('-m pip install "SpoutGL>=0.1.1"')
