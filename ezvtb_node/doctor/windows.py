"""Checks only Windows needs: the Visual C++ runtime the native packages load, and the firewall
profile that decides whether the phone's tracking datagrams arrive at all."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from ezvtb_node.doctor.check import Check
from ezvtb_node.install_hints import FIREWALL_FIX

# onnxruntime, torch and OpenVINO are built with MSVC and load its runtime from the system instead
# of shipping it (onnxruntime's install docs: "requires the Microsoft Visual C++ Redistributable";
# torch's Windows notes: a missing redistributable is "DLL load failed ... c10.dll").
VC_RUNTIME_DLLS = ("msvcp140.dll", "vcruntime140.dll", "vcruntime140_1.dll")
VC_REDIST_URL = "https://aka.ms/vs/17/release/vc_redist.x64.exe"


def dll_folders() -> list[Path]:
    """Where Windows finds a DLL a package loads by name: System32, then the folders on PATH."""
    system32 = Path(os.environ.get("SYSTEMROOT", "C:\\Windows")) / "System32"
    return [system32, *(Path(p) for p in os.environ.get("PATH", "").split(os.pathsep) if p)]


def check_vc_runtime(system: str = sys.platform, folders: Sequence[Path] | None = None) -> Check:
    if system != "win32":
        return Check("VC++ runtime", "ok", "not applicable: only Windows packages load it")
    folders = dll_folders() if folders is None else folders
    missing = [name for name in VC_RUNTIME_DLLS if not any((folder / name).is_file() for folder in folders)]
    if not missing:
        return Check("VC++ runtime", "ok", f"{', '.join(VC_RUNTIME_DLLS)} found")
    return Check(
        "VC++ runtime",
        "fail",
        f"{', '.join(missing)} not found: onnxruntime, torch and OpenVINO fail with 'DLL load failed'",
        f"install the Microsoft Visual C++ Redistributable 2015-2022 (x64): {VC_REDIST_URL}",
    )


def network_categories(run: Callable[..., subprocess.CompletedProcess] = subprocess.run) -> list[str]:
    """The Windows firewall profile of each connected network ('Public', 'Private',
    'DomainAuthenticated'), from Get-NetConnectionProfile; [] when PowerShell cannot say."""
    command = ["powershell", "-NoProfile", "-Command", "(Get-NetConnectionProfile).NetworkCategory"]
    try:
        result = run(command, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return []
    return (
        [line.strip() for line in result.stdout.splitlines() if line.strip()]
        if result.returncode == 0
        else []
    )




def check_phone_firewall(
    phone: str, system: str = sys.platform, categories: Sequence[str] | None = None
) -> Check:
    """With a phone sending tracking (iFacialMocap): Windows Firewall drops inbound UDP to an app it
    has not been told to allow on a Public network, with no error on either side."""
    name = "firewall (phone)"
    if system != "win32" or not phone:
        return Check(name, "ok", "not applicable")
    categories = network_categories() if categories is None else categories
    if "Public" in categories:
        return Check(
            name,
            "warn",
            f"this PC is on a Public network: Windows Firewall drops the datagrams from the phone "
            f"({phone}) unless Python is allowed there; the tracking just never arrives",
            FIREWALL_FIX,
        )
    if not categories:
        return Check(name, "ok", "network profile unknown (PowerShell did not say); " + FIREWALL_FIX)
    return Check(name, "ok", f"network profile {', '.join(categories)}: the phone's datagrams may come in")
