"""Helpers shared by the node benchmarks: start `ezvtb-node run` as a subprocess, read /metrics."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_node(args: list[str], control_port: int) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "ezvtb_node.cli", "run", "--control", f"127.0.0.1:{control_port}", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )


def metrics(control_port: int) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{control_port}/metrics", timeout=5) as response:
        return json.loads(response.read())


def wait_rendering(node: subprocess.Popen, control_port: int, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if node.poll() is not None:
            raise RuntimeError(f"node exited early: {node.stderr.read()[-2000:]}")
        try:
            if metrics(control_port)["render"]["frames"] > 0:
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise TimeoutError("node did not start rendering")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")
