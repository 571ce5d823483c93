import subprocess
import sys

from ezvtb_node import __version__


def test_console_script_reports_version():
    out = subprocess.run(
        [sys.executable, "-m", "ezvtb_node.cli", "--version"], capture_output=True, text=True, check=True
    )
    assert __version__ in out.stdout
