"""The doctor's Windows-only checks, with Windows simulated: the Visual C++ runtime DLLs looked up
in folders as Windows' loader would (System32, then PATH), and the network profile as PowerShell's
Get-NetConnectionProfile prints it."""

from __future__ import annotations

import subprocess

from ezvtb_node.doctor import run_checks
from ezvtb_node.doctor.windows import (
    VC_REDIST_URL,
    check_phone_firewall,
    check_vc_runtime,
    network_categories,
)
from tests.doctor.conftest import by_name, quiet_config


def test_a_missing_vcruntime140_1_fails_with_the_redistributable_link(tmp_path):
    system32, tools = tmp_path / "System32", tmp_path / "tools"
    system32.mkdir()
    tools.mkdir()
    for name in ("msvcp140.dll", "vcruntime140.dll"):
        (system32 / name).write_bytes(b"MZ")
    check = check_vc_runtime("win32", [system32, tools])
    assert check.status == "fail" and "vcruntime140_1.dll" in check.detail and "msvcp140" not in check.detail
    assert VC_REDIST_URL in check.fix
    (tools / "vcruntime140_1.dll").write_bytes(b"MZ")  # found on PATH counts too
    assert check_vc_runtime("win32", [system32, tools]).status == "ok"


def test_the_vc_runtime_check_is_listed_and_not_applicable_elsewhere():
    assert by_name(run_checks(quiet_config()), "VC++ runtime").status == "ok"
    assert check_vc_runtime("linux", []).detail.startswith("not applicable")


def powershell_says(text: str, returncode: int = 0):
    def run(command, **kwargs):
        assert command[:3] == ["powershell", "-NoProfile", "-Command"]
        assert "Get-NetConnectionProfile" in command[3]
        return subprocess.CompletedProcess(command, returncode, stdout=text, stderr="")

    return run


def test_a_public_network_with_a_phone_configured_warns_that_the_firewall_drops_its_datagrams():
    categories = network_categories(powershell_says("Public\r\nPrivate\r\n"))
    assert categories == ["Public", "Private"]
    check = check_phone_firewall("192.168.1.20", "win32", categories)
    assert check.status == "warn" and "192.168.1.20" in check.detail and "Private" in check.fix


def test_a_private_network_is_fine_and_an_unknown_one_still_names_the_fix():
    private = check_phone_firewall(
        "192.168.1.20", "win32", network_categories(powershell_says("Private\r\n"))
    )
    assert private.status == "ok" and "Private" in private.detail
    unknown = check_phone_firewall("192.168.1.20", "win32", network_categories(powershell_says("", 1)))
    assert unknown.status == "ok" and "Allow an app through firewall" in unknown.detail


def test_without_powershell_the_profile_is_unknown_not_an_error():
    def missing(command, **kwargs):
        raise FileNotFoundError(2, "The system cannot find the file specified", "powershell")

    assert network_categories(missing) == []


def test_the_firewall_check_runs_only_when_a_phone_is_configured():
    assert "firewall (phone)" not in [c.name for c in run_checks(quiet_config())]
    with_phone = run_checks(quiet_config(ifacialmocap="0", ifacialmocap_phone="192.168.1.20"))
    assert by_name(with_phone, "firewall (phone)").status == "ok"  # not Windows here
